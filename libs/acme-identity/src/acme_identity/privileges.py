"""What a service needs in schema `identity` at run time (acme_platform.roles grants it to the identity
reader and writer roles). Versioned with the migrations: a revision adding a table adds it here too.

No service may read `accounts.password_hash`: reads are granted column by column without it, and a login
is checked by two SECURITY DEFINER functions owned by identity's owner role (migration id0002), so the
stored digest never leaves the database.
"""
from acme_platform.roles import Privileges, function, table

_ACCOUNT_COLUMNS = ("id", "email", "name", "kind", "created_at")

RUNTIME = Privileges(
    read=(table("accounts", "SELECT", columns=_ACCOUNT_COLUMNS), table("tokens", "SELECT"),
          table("login_failures", "SELECT")),
    write=(
        table("accounts", "INSERT"),                               # sign-up (the hash is written, never read)
        table("accounts", "UPDATE", columns=("password_hash",)),   # re-hash with stronger parameters at login
        table("tokens", "INSERT"),
        table("tokens", "UPDATE", columns=("revoked_at",)),        # log out / revoke
        table("login_failures", "INSERT", "UPDATE", "DELETE"),   # the shared login throttle (id0003)
        function("password_challenge(text)"),
        function("password_matches(uuid, text)"),
    ),
)
