"""Seed the bench database through the domain libraries (run with the storefront venv's python).

1,000 products with stock far above what a run can sell, 100 customers with a funded USD wallet and
a bearer token each, and a few orders per customer for the get_order workload. Writes the fixture
files the load generators read into the directory given as argv[1]:
  tokens.txt  one bearer token per line      skus.txt  one sku per line
  orders.txt  "<token> <order id>" per line  seed.json counts, customer ids
"""
from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

# Only the seed hashes passwords; the cheapest argon2 profile keeps it fast. The measured services
# never hash (tokens are sha256-checked).
os.environ["ACME_IDENTITY_ARGON2_PROFILE"] = "fast"

import acme_billing
import acme_catalog
import acme_identity
import acme_orders
from acme_platform import Database, load_settings

PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "1000"))
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "100"))
ORDERS_PER_CUSTOMER = 5
STOCK = 1_000_000           # catalog's maximum; a full run sells a few hundred units per product
FUNDS_CENTS = 10**9         # billing's largest single credit; a full run spends < 1 % of it
PASSWORD = "bench-password-not-secret"


def main(out: Path) -> None:
    started = time.monotonic()
    db = Database(load_settings(service_name="bench-seed"))
    skus = [f"BENCH-{i:04d}" for i in range(PRODUCTS)]
    with db.unit_of_work() as uow:
        for i, sku in enumerate(skus):
            acme_catalog.create_product(uow, sku=sku, name=f"Bench product {i}", description="seeded by bench",
                                        price_cents=100 + (i * 37) % 4900, currency="USD", stock=STOCK)
    customers = []
    with db.unit_of_work() as uow:
        for i in range(CUSTOMERS):
            email = f"bench-{i:03d}@example.com"
            account = acme_identity.register_customer(uow, email=email, password=PASSWORD, name=f"Bench {i}")
            acme_billing.open_account(uow, account.id, "USD")
            acme_billing.credit(uow, account.id, FUNDS_CENTS, reference="bench-seed", granted_by="bench")
            customers.append((account.id, email))
    tokens = []
    with db.unit_of_work() as uow:
        for _, email in customers:
            issued = acme_identity.issue_token(uow, email=email, password=PASSWORD, ttl=timedelta(days=30))
            tokens.append(issued.token)
    orders = []
    with db.unit_of_work() as uow:
        for n, token in enumerate(tokens):
            principal = acme_identity.authenticate(uow, token)
            for k in range(ORDERS_PER_CUSTOMER):
                lines = [(skus[(n * 7 + k * 13) % PRODUCTS], 1), (skus[(n * 11 + k * 17 + 1) % PRODUCTS], 1)]
                placed = acme_orders.place_order(uow, principal, lines, idempotency_key=f"seed-{n}-{k}")
                orders.append((token, placed.order.id))
    db.dispose()
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokens.txt").write_text("\n".join(tokens) + "\n")
    (out / "skus.txt").write_text("\n".join(skus) + "\n")
    (out / "orders.txt").write_text("\n".join(f"{t} {o}" for t, o in orders) + "\n")
    (out / "seed.json").write_text(json.dumps({
        "products": PRODUCTS, "customers": CUSTOMERS, "orders": len(orders), "stock_per_product": STOCK,
        "funds_cents_per_customer": FUNDS_CENTS, "customer_ids": [c for c, _ in customers],
        "seconds": round(time.monotonic() - started, 2),
    }, indent=1))
    print(f"seeded {PRODUCTS} products, {CUSTOMERS} customers, {len(orders)} orders "
          f"in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
