"""orders, order lines, idempotency keys, outbox

Revision ID: ord0001
Revises:
"""
from alembic import op

from acme_platform.migrations import create_outbox_table

revision = "ord0001"
down_revision = None
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE orders.orders (
            id uuid NOT NULL,
            customer_id text NOT NULL,
            status text NOT NULL,
            total_cents bigint NOT NULL,
            currency text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT orders_pkey PRIMARY KEY (id),
            CONSTRAINT orders_status_known CHECK (status IN ('placed', 'fulfilled', 'cancelled')),
            CONSTRAINT orders_total_not_negative CHECK (total_cents >= 0),
            CONSTRAINT orders_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
            CONSTRAINT orders_customer_not_empty CHECK (customer_id <> '')
        )
        """
    )
    # list_orders: a customer's orders newest first, keyset on (created_at, id).
    op.execute("CREATE INDEX orders_customer_created ON orders.orders (customer_id, created_at DESC, id DESC)")
    # find_orders by status (the fulfilment backlog), same keyset.
    op.execute("CREATE INDEX orders_status_created ON orders.orders (status, created_at DESC, id DESC)")
    # find_orders without filters.
    op.execute("CREATE INDEX orders_created ON orders.orders (created_at DESC, id DESC)")

    op.execute(
        """
        CREATE TABLE orders.order_lines (
            order_id uuid NOT NULL,
            sku text NOT NULL,
            quantity bigint NOT NULL,
            unit_price_cents bigint NOT NULL,
            CONSTRAINT order_lines_pkey PRIMARY KEY (order_id, sku),
            CONSTRAINT order_lines_order_fkey FOREIGN KEY (order_id)
                REFERENCES orders.orders (id) ON DELETE CASCADE,
            CONSTRAINT order_lines_quantity_range CHECK (quantity BETWEEN 1 AND 100),
            CONSTRAINT order_lines_price_not_negative CHECK (unit_price_cents >= 0)
        )
        """
    )

    # The key row is inserted before the order exists (it is what serialises racing duplicates), so the
    # reference to the order is checked at commit, when both rows are there.
    op.execute(
        """
        CREATE TABLE orders.idempotency_keys (
            customer_id text NOT NULL,
            key text NOT NULL,
            request_hash text NOT NULL,
            order_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT idempotency_keys_pkey PRIMARY KEY (customer_id, key),
            CONSTRAINT idempotency_keys_order_fkey FOREIGN KEY (order_id)
                REFERENCES orders.orders (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
            CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 200)
        )
        """
    )
    op.execute("CREATE INDEX idempotency_keys_order ON orders.idempotency_keys (order_id)")

    create_outbox_table("orders")


def downgrade() -> None:
    op.execute("DROP TABLE orders.outbox")
    op.execute("DROP TABLE orders.idempotency_keys")
    op.execute("DROP TABLE orders.order_lines")
    op.execute("DROP TABLE orders.orders")
