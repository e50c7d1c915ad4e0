from acme_platform.migrations import run_env
from acme_catalog.tables import metadata

run_env(schema="catalog", target_metadata=metadata)
