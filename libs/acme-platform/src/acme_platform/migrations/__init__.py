"""Per-domain Alembic environments, run in dependency order by one runner under an advisory lock."""
from .env import run_env
from .ops import create_outbox_table
from .runner import MigrationBlocked, MigrationError, MigrationRunner, domain_status, pending_revisions
from .lint import LintFinding, lint_domain
from .skew import compatibility_problems

__all__ = ["run_env", "create_outbox_table", "MigrationRunner", "MigrationError", "MigrationBlocked", "compatibility_problems", "lint_domain", "LintFinding", "domain_status", "pending_revisions"]
