"""billing: idempotency keys of staff credits

Revision ID: bil0002
Revises: bil0001
"""
from alembic import op

revision = "bil0002"
down_revision = "bil0001"
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    # One row per (wallet owner, key): a retried grant finds the posting its first attempt made.
    # The posting FK is checked at COMMIT (deferred): the key is claimed first, so a concurrent
    # duplicate waits on the primary key instead of posting a second credit.
    op.execute(
        """
        CREATE TABLE billing.credit_keys (
            owner_id text NOT NULL,
            key text NOT NULL,
            request_hash text NOT NULL,
            posting_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT credit_keys_pkey PRIMARY KEY (owner_id, key),
            CONSTRAINT credit_keys_posting_fkey FOREIGN KEY (posting_id) REFERENCES billing.postings (id)
                DEFERRABLE INITIALLY DEFERRED,
            CONSTRAINT credit_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 200)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE billing.credit_keys")
