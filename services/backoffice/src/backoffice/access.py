"""What the backoffice may do in the shared database: acmectl roles derives its login role from this
(entry point `acme.services`), granting what each installed domain declares for its runtime.

Staff search and read orders; they never change one (customers cancel, fulfillment fulfils), so orders is read-only here.
connection_limit is the role's budget across all its instances: 2 instances x 2 workers x (pool 5 +
overflow 5) + a LISTEN connection per worker + acmectl, with room for a rolling restart.
"""
from acme_platform.roles import ServiceAccess

# platform.audit: the console records who replayed or discarded what (acme_platform.audit_log, append-only);
# no other service gets that table.
ACCESS = ServiceAccess(service="backoffice", connection_limit=40, read_only=("orders",),
                       capabilities=("platform.audit",))
