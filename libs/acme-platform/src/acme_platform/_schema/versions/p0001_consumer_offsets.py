"""consumer offsets for outbox consumer groups

Revision ID: p0001
Revises:
"""
from alembic import op

revision = "p0001"
down_revision = None
branch_labels = None
depends_on = None

phase = "expand"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE acme_platform.consumer_offsets (
            consumer_group text NOT NULL,
            domain text NOT NULL,
            last_txid bigint NOT NULL,
            last_id bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer_group, domain)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE acme_platform.consumer_offsets")
