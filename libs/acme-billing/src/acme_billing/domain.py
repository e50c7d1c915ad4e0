"""How the platform finds billing: entry point `acme.domains` -> billing = acme_billing.domain:DOMAIN."""
from acme_platform import DomainSpec

from .privileges import RUNTIME

DOMAIN = DomainSpec(
    name="billing",
    package="acme-billing",
    schema="billing",
    migrations="acme_billing.migrations",
    depends_on=(),
    privileges=RUNTIME,
)
