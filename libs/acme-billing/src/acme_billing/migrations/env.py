from acme_platform.migrations import run_env
from acme_billing.tables import metadata

run_env(schema="billing", target_metadata=metadata)
