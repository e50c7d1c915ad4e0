from acme_platform.migrations import run_env
from acme_skewdemo.tables import metadata

run_env(schema="skewdemo", target_metadata=metadata)
