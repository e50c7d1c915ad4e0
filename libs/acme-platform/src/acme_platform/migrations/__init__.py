"""Per-domain Alembic environments, run in dependency order by one runner under an advisory lock."""
from .env import run_env
from .ops import create_outbox_table
from .runner import MigrationError, MigrationRunner, domain_status, pending_revisions

__all__ = ["run_env", "create_outbox_table", "MigrationRunner", "MigrationError", "domain_status", "pending_revisions"]
