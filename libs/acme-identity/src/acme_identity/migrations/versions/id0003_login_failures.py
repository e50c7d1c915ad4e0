"""identity: failed-login counters shared by every instance (the login throttle)

Revision ID: id0003
Revises: id0002

One row per throttled key: scope 'account' (the normalized email, so unknown emails are throttled
exactly like known ones and a 429 tells nothing about which emails exist) or 'address' (the client's
IP address). `attempts` counts the attempts of the window that began at `window_started_at`.
"""
from alembic import op

revision = "id0003"
down_revision = "id0002"
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE identity.login_failures (
            scope text NOT NULL,
            key text NOT NULL,
            attempts bigint NOT NULL,
            window_started_at timestamptz NOT NULL,
            CONSTRAINT login_failures_pkey PRIMARY KEY (scope, key),
            CONSTRAINT login_failures_scope_valid CHECK (scope IN ('account', 'address')),
            CONSTRAINT login_failures_key_length CHECK (char_length(key) BETWEEN 1 AND 320),
            CONSTRAINT login_failures_attempts_positive CHECK (attempts >= 0)
        )
        """
    )
    # The purge of expired windows scans by age.
    op.execute("CREATE INDEX login_failures_window_started_at ON identity.login_failures (window_started_at)")


def downgrade() -> None:
    op.execute("DROP TABLE identity.login_failures")
