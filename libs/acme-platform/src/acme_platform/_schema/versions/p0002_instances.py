"""live service instances: registration and heartbeats

Revision ID: p0002
Revises: p0001
"""
from alembic import op

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None

phase = "expand"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE acme_platform.instances (
            instance_id uuid PRIMARY KEY,
            service text NOT NULL,
            service_version text NOT NULL,
            host text NOT NULL,
            pid bigint NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            stale_after_seconds double precision NOT NULL,
            packages jsonb NOT NULL,
            heads jsonb NOT NULL,
            git_sha text
        )
        """
    )
    op.execute("CREATE INDEX instances_heartbeat ON acme_platform.instances (heartbeat_at)")


def downgrade() -> None:
    op.execute("DROP TABLE acme_platform.instances")
