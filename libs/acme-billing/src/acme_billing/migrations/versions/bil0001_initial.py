"""billing: accounts, postings, entries, outbox

Revision ID: bil0001
Revises:
"""
from alembic import op

from acme_platform.migrations import create_outbox_table

revision = "bil0001"
down_revision = None
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    # One account per (kind, owner). Customer accounts cache their balance so a charge is one guarded
    # UPDATE. System accounts (per currency: grants, revenue) are touched by every posting in that
    # currency; caching their balance would make one row every concurrent charge waits on until commit,
    # so their balance is NULL here and derived from entries (check_ledger proves the customer cache).
    op.execute(
        """
        CREATE TABLE billing.accounts (
            id uuid NOT NULL,
            owner_id text NOT NULL,
            kind text NOT NULL,
            currency text NOT NULL,
            balance_cents bigint,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT accounts_pkey PRIMARY KEY (id),
            CONSTRAINT accounts_kind_owner_key UNIQUE (kind, owner_id),
            CONSTRAINT accounts_kind_check CHECK (kind IN ('customer', 'system')),
            CONSTRAINT accounts_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
            CONSTRAINT accounts_balance_check CHECK (
                (kind = 'customer' AND balance_cents IS NOT NULL AND balance_cents >= 0)
                OR (kind = 'system' AND balance_cents IS NULL)
            )
        )
        """
    )
    op.execute(
        """
        CREATE TABLE billing.postings (
            id uuid NOT NULL,
            kind text NOT NULL,
            owner_id text NOT NULL,
            amount_cents bigint NOT NULL,
            currency text NOT NULL,
            reference text NOT NULL,
            granted_by text,
            balance_after_cents bigint NOT NULL,
            created_at timestamptz NOT NULL,
            CONSTRAINT postings_pkey PRIMARY KEY (id),
            CONSTRAINT postings_kind_check CHECK (kind IN ('credit', 'charge', 'refund')),
            CONSTRAINT postings_amount_check CHECK (amount_cents > 0)
        )
        """
    )
    # Refunds look up the charges and earlier refunds of one reference of one owner.
    op.execute("CREATE INDEX postings_owner_reference ON billing.postings (owner_id, reference)")
    # No foreign key on account_id, on purpose: its check takes FOR KEY SHARE on the referenced row, and
    # every charge in a currency references the same revenue row, so concurrent charges would pile
    # their locks onto one tuple (a MultiXact rewritten on each new locker). Accounts are never deleted,
    # only this library writes entries, and check_ledger reports any entry on an unknown account.
    # No index on account_id either: nothing looks entries up by account yet (check_ledger scans).
    op.execute(
        """
        CREATE TABLE billing.entries (
            posting_id uuid NOT NULL,
            account_id uuid NOT NULL,
            amount_cents bigint NOT NULL,
            CONSTRAINT entries_pkey PRIMARY KEY (posting_id, account_id),
            CONSTRAINT entries_posting_id_fkey FOREIGN KEY (posting_id) REFERENCES billing.postings (id),
            CONSTRAINT entries_amount_check CHECK (amount_cents <> 0)
        )
        """
    )
    create_outbox_table("billing")


def downgrade() -> None:
    op.execute("DROP TABLE billing.outbox")
    op.execute("DROP TABLE billing.entries")
    op.execute("DROP TABLE billing.postings")
    op.execute("DROP TABLE billing.accounts")
