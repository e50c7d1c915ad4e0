"""What a service needs in schema `billing` at run time (acme_platform.roles grants it to the billing
reader and writer roles). Versioned with the migrations: a revision adding a table adds it here too."""
from acme_platform.roles import Privileges, table

RUNTIME = Privileges(
    read=(table("accounts", "SELECT"), table("postings", "SELECT"), table("entries", "SELECT"),
          table("credit_keys", "SELECT")),
    # Entries are append-only and the database holds every service to that. Postings are never updated
    # either, but refunds serialise on `SELECT … FOR UPDATE` of the charge postings, which Postgres only
    # allows with UPDATE privilege; their immutability stays the domain's invariant (check_ledger).
    write=(table("accounts", "INSERT", "UPDATE"), table("postings", "INSERT", "UPDATE"), table("entries", "INSERT"),
           # Idempotency keys are claimed once and never changed.
           table("credit_keys", "INSERT")),
)
