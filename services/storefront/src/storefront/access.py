"""What the storefront may do in the shared database: acmectl roles derives its login role from this
(entry point `acme.services`), granting what each installed domain declares for its runtime.

Every domain it installs is written: sign-up (identity), orders (orders, catalog stock, billing charges).
connection_limit is the role's budget across all its instances: 2 instances x 2 workers x (pool 5 +
overflow 5) + a LISTEN connection per worker + acmectl, with room for a rolling restart.
"""
from acme_platform.roles import ServiceAccess

ACCESS = ServiceAccess(service="storefront", connection_limit=60, read_only=())
