"""dead letters of consumer groups, and each group's retry state for the event it is stuck on

Revision ID: p0003
Revises: p0002
"""
from alembic import op

revision = "p0003"
down_revision = "p0002"
branch_labels = None
depends_on = None

phase = "expand"


def upgrade() -> None:
    # The event a group is retrying (at most one per group and domain: it stops there), how often it
    # failed and when it may be tried again. Nullable columns: older consumers never write them.
    op.execute(
        """
        ALTER TABLE acme_platform.consumer_offsets
            ADD COLUMN failing_txid bigint,
            ADD COLUMN failing_id bigint,
            ADD COLUMN attempts bigint,
            ADD COLUMN retry_after timestamptz,
            ADD COLUMN last_error text
        """
    )
    op.execute(
        """
        CREATE TABLE acme_platform.dead_letters (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            consumer_group text NOT NULL,
            domain text NOT NULL,
            event_id bigint NOT NULL,
            txid bigint NOT NULL,
            topic text NOT NULL,
            key text NOT NULL,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            error text NOT NULL,
            attempts bigint NOT NULL,
            status text NOT NULL DEFAULT 'dead'
                CHECK (status IN ('dead', 'replay', 'replayed', 'discarded')),
            dead_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (consumer_group, domain, event_id)
        )
        """
    )
    op.execute("CREATE INDEX dead_letters_open ON acme_platform.dead_letters (consumer_group, status)")


def downgrade() -> None:
    op.execute("DROP TABLE acme_platform.dead_letters")
    op.execute(
        """
        ALTER TABLE acme_platform.consumer_offsets
            DROP COLUMN failing_txid, DROP COLUMN failing_id, DROP COLUMN attempts,
            DROP COLUMN retry_after, DROP COLUMN last_error
        """
    )
