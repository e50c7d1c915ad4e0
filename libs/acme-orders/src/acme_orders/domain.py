"""How acme-platform finds this domain (entry point `acme.domains`): schema, migrations, dependencies."""
from acme_platform import DomainSpec

from .privileges import RUNTIME

# catalog and billing first: an order's lines name catalog skus and its charge is a billing posting,
# so their schemas must exist (and be migrated) before ours in every database.
DOMAIN = DomainSpec(
    name="orders",
    package="acme-orders",
    schema="orders",
    migrations="acme_orders.migrations",
    depends_on=("catalog", "billing"),
    privileges=RUNTIME,
)
