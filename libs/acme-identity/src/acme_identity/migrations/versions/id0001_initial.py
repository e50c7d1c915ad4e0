"""identity: accounts, API tokens, outbox

Revision ID: id0001
Revises:
"""
from alembic import op

from acme_platform.migrations import create_outbox_table

revision = "id0001"
down_revision = None
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE identity.accounts (
            id uuid NOT NULL,
            email text NOT NULL,
            name text NOT NULL,
            kind text NOT NULL,
            password_hash text NOT NULL,
            created_at timestamptz NOT NULL,
            CONSTRAINT accounts_pkey PRIMARY KEY (id),
            CONSTRAINT accounts_kind_valid CHECK (kind IN ('customer', 'staff')),
            CONSTRAINT accounts_email_length CHECK (char_length(email) BETWEEN 3 AND 254),
            CONSTRAINT accounts_name_length CHECK (char_length(name) BETWEEN 1 AND 200)
        )
        """
    )
    # Unique case-insensitively; also the index behind every login lookup (WHERE lower(email) = lower(:e)).
    op.execute("CREATE UNIQUE INDEX accounts_email_lower_key ON identity.accounts (lower(email))")
    op.execute(
        """
        CREATE TABLE identity.tokens (
            id uuid NOT NULL,
            token_hash bytea NOT NULL,
            account_id uuid NOT NULL,
            scopes text[] NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz,
            CONSTRAINT tokens_pkey PRIMARY KEY (id),
            CONSTRAINT tokens_token_hash_key UNIQUE (token_hash),
            CONSTRAINT tokens_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
            CONSTRAINT tokens_expiry_after_creation CHECK (expires_at > created_at),
            CONSTRAINT tokens_account_id_fkey FOREIGN KEY (account_id) REFERENCES identity.accounts (id)
        )
        """
    )
    # For "revoke every token of this account" and for the foreign key's own checks.
    op.execute("CREATE INDEX tokens_account_id ON identity.tokens (account_id)")
    create_outbox_table("identity")


def downgrade() -> None:
    op.execute("DROP TABLE identity.outbox")
    op.execute("DROP TABLE identity.tokens")
    op.execute("DROP TABLE identity.accounts")
