from acme_identity.tables import metadata
from acme_platform.migrations import run_env

run_env(schema="identity", target_metadata=metadata)
