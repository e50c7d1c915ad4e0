"""What a service needs in schema `orders` at run time (acme_platform.roles grants it to the orders
reader and writer roles). Versioned with the migrations: a revision adding a table adds it here too."""
from acme_platform.roles import Privileges, table

RUNTIME = Privileges(
    read=(table("orders", "SELECT"), table("order_lines", "SELECT"), table("idempotency_keys", "SELECT")),
    # Lines and idempotency keys are written once; only an order's status moves (cancel, fulfil).
    write=(table("orders", "INSERT", "UPDATE"), table("order_lines", "INSERT"), table("idempotency_keys", "INSERT")),
)
