"""How acme_platform finds this domain (entry point `acme.domains: skewdemo`)."""
from acme_platform import DomainSpec

DOMAIN = DomainSpec(
    name="skewdemo",
    package="acme-skewdemo",
    schema="skewdemo",
    migrations="acme_skewdemo.migrations",
    depends_on=(),
)
