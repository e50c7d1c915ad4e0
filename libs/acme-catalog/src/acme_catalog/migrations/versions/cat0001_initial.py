"""catalog: products with stock, and the catalog outbox

Revision ID: cat0001
Revises:
"""
from alembic import op

from acme_platform.migrations import create_outbox_table

revision = "cat0001"
down_revision = None
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    # The CHECKs repeat the Python validation (acme_catalog.model) so that no code path, however it
    # reaches the table, can store an invalid product or oversell: reserved <= on_hand is the
    # no-oversell invariant itself.
    op.execute(
        """
        CREATE TABLE catalog.products (
            sku text COLLATE "C" NOT NULL,
            name text NOT NULL,
            description text NOT NULL DEFAULT '',
            price_cents bigint NOT NULL,
            currency text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            on_hand bigint NOT NULL DEFAULT 0,
            reserved bigint NOT NULL DEFAULT 0,
            version bigint NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT products_pkey PRIMARY KEY (sku),
            CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{2,31}$'),
            CONSTRAINT products_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
            CONSTRAINT products_description_length CHECK (char_length(description) <= 2000),
            CONSTRAINT products_price_range CHECK (price_cents BETWEEN 0 AND 100000000),
            CONSTRAINT products_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
            CONSTRAINT products_on_hand_range CHECK (on_hand BETWEEN 0 AND 1000000),
            CONSTRAINT products_reserved_not_negative CHECK (reserved >= 0),
            CONSTRAINT products_reserved_within_on_hand CHECK (reserved <= on_hand)
        )
        """
    )
    # The storefront lists only active products; the primary key serves sku lookups and the
    # backoffice's list that includes inactive ones.
    op.execute("CREATE INDEX products_active_sku ON catalog.products (sku) WHERE active")
    create_outbox_table("catalog")


def downgrade() -> None:
    op.execute("DROP TABLE catalog.outbox")
    op.execute("DROP TABLE catalog.products")
