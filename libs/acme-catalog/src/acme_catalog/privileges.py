"""What a service needs in schema `catalog` at run time (acme_platform.roles grants it to the catalog
reader and writer roles). Versioned with the migrations: a revision adding a table adds it here too."""
from acme_platform.roles import Privileges, table

RUNTIME = Privileges(
    read=(table("products", "SELECT"),),
    # Products are created and changed (price, stock) but never deleted: they are deactivated.
    write=(table("products", "INSERT", "UPDATE"),),
)
