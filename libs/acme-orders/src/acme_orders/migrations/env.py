from acme_platform.migrations import run_env
from acme_orders.tables import metadata

run_env(schema="orders", target_metadata=metadata)
