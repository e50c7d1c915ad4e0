"""How acme_platform finds this domain (entry point `acme.domains: catalog`)."""
from acme_platform import DomainSpec

from .privileges import RUNTIME

DOMAIN = DomainSpec(
    name="catalog",
    package="acme-catalog",
    schema="catalog",
    migrations="acme_catalog.migrations",
    depends_on=(),
    privileges=RUNTIME,
)
