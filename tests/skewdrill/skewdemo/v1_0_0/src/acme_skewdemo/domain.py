"""How acme_platform finds this domain (entry point `acme.domains: skewdemo`)."""
from acme_platform import DomainSpec
from acme_platform.roles import Privileges, table

DOMAIN = DomainSpec(
    name="skewdemo",
    package="acme-skewdemo",
    schema="skewdemo",
    migrations="acme_skewdemo.migrations",
    depends_on=(),
    # What a service needs at run time (acme_platform.roles): read and write items.
    privileges=Privileges(read=(table("items", "SELECT"),), write=(table("items", "INSERT", "UPDATE"),)),
)
