from acme_platform.migrations import run_env

run_env(schema="acme_platform")
