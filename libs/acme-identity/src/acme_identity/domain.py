"""How acme_platform finds this domain (entry point `acme.domains` -> identity)."""
from acme_platform import DomainSpec

from .privileges import RUNTIME

DOMAIN = DomainSpec(
    name="identity",
    package="acme-identity",
    schema="identity",
    migrations="acme_identity.migrations",
    depends_on=(),
    privileges=RUNTIME,
)
