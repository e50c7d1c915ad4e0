"""audit log of operators' actions (the backoffice console's replay, discard, log-in, log-out)

Revision ID: p0004
Revises: p0003
"""
from alembic import op

revision = "p0004"
down_revision = "p0003"
branch_labels = None
depends_on = None

phase = "expand"


def upgrade() -> None:
    # Append-only by privilege: the services that record actions get INSERT and SELECT, never UPDATE or
    # DELETE (acme_platform.domains PLATFORM_DOMAIN), so a console cannot rewrite its own history.
    op.execute(
        """
        CREATE TABLE acme_platform.audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            actor_id text NOT NULL,
            actor text NOT NULL,
            service text NOT NULL,
            action text NOT NULL,
            target text NOT NULL,
            detail jsonb NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )
    op.execute("CREATE INDEX audit_log_at ON acme_platform.audit_log (at DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE acme_platform.audit_log")
