"""Apply every installed domain's migrations, in dependency order, one runner at a time.

- A session-level advisory lock serialises runners across processes and hosts: a second runner
  waits (and says so), then finds nothing left to do.
- Each domain upgrades inside ONE transaction (Postgres has transactional DDL), so a revision that
  fails leaves that domain exactly as it was.
- lock_timeout keeps a migration from queueing behind a long transaction while every query of the
  live services queues behind the migration's own lock request.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ..config import to_sqlalchemy_url
from ..domains import DomainSpec, installed_domains
from ..instances import COMPATIBILITY_LOCK_KEY, LiveInstance
from ..roles import apply as roles_apply
from .skew import RevisionPolicy, RevisionPolicyError, blockers, ensure_ledger, policy_of, record

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x6163_6D65  # "acme": one lock for all migration runners of a database


class MigrationError(RuntimeError):
    def __init__(self, domain: str, message: str):
        self.domain = domain
        super().__init__(f"{domain}: {message}")


@dataclass
class DomainResult:
    domain: str
    version: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    applied: list[str] = field(default_factory=list)


def alembic_config(spec: DomainSpec) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(spec.migrations_path))
    cfg.attributes["schema"] = spec.schema
    return cfg


def script_heads(spec: DomainSpec) -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config(spec)).get_heads()))


def db_heads(connection: sa.Connection, spec: DomainSpec) -> tuple[str, ...]:
    exists = connection.exec_driver_sql(
        "SELECT to_regclass(%(t)s) IS NOT NULL", {"t": f'"{spec.schema}".alembic_version'}
    ).scalar()
    if not exists:
        return ()
    ctx = MigrationContext.configure(connection, opts={"version_table_schema": spec.schema})
    return tuple(sorted(ctx.get_current_heads()))


def pending_revisions(connection: sa.Connection, specs: list[DomainSpec]) -> dict[str, str]:
    """Domains whose database lacks a revision the installed package needs: {domain: reason}.

    A database *ahead* of the package (migrated by a newer version of the library) is fine: revisions
    are only ever added, so it contains everything this version knows about.
    """
    missing: dict[str, str] = {}
    for spec in specs:
        script = ScriptDirectory.from_config(alembic_config(spec))
        want, have = tuple(sorted(script.get_heads())), db_heads(connection, spec)
        if want == have or all(_is_applied(script, head, have) for head in want):
            continue
        missing[spec.name] = (
            f"{spec.package} {spec.version} needs revision {', '.join(want)}; "
            f"database has {', '.join(have) or 'none'}"
        )
    return missing


def _is_applied(script: ScriptDirectory, head: str, db_revisions: tuple[str, ...]) -> bool:
    for current in db_revisions:
        try:
            script.get_revision(current)
        except Exception:  # noqa: BLE001 - alembic raises several types for an unknown revision
            return True  # unknown to this package: applied by a newer version of it
        if any(rev.revision == head for rev in script.walk_revisions(base="base", head=current)):
            return True
    return False


def domain_status(database_url: str, domains: list[str] | None = None) -> list[dict]:
    specs = installed_domains(domains)
    engine = sa.create_engine(to_sqlalchemy_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = []
            for spec in specs:
                want, have = script_heads(spec), db_heads(conn, spec)
                rows.append({
                    "domain": spec.name,
                    "package": spec.package,
                    "version": spec.version,
                    "schema": spec.schema,
                    "head": list(want),
                    "database": list(have),
                    "up_to_date": not pending_revisions(conn, [spec]),
                })
            return rows
    finally:
        engine.dispose()


@contextlib.contextmanager
def _as_role(conn: sa.Connection, role: str | None):
    """SET LOCAL ROLE for a block of the runner's transaction, then back to the login role (which reads
    the instance registry for the skew guard: an owner role of one domain cannot)."""
    if role is None:
        yield
        return
    conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
    yield
    # Not in a `finally`: after an error the transaction is aborted and rolls back, role and all.
    conn.exec_driver_sql("RESET ROLE")


class MigrationBlocked(MigrationError):
    """A contract revision would break live instances still running an older library version."""

    def __init__(self, spec: DomainSpec, policy: RevisionPolicy, instances: list[LiveInstance]):
        self.revision = policy.revision
        self.instances = instances
        who = "; ".join(f"{i.service} on {i.host} (pid {i.pid}) runs {spec.package} {i.packages[spec.package]}"
                        for i in instances)
        super().__init__(
            spec.name,
            f"contract revision {policy.revision} requires {spec.package} >= {policy.min_compatible_version}, "
            f"but live instances run older versions: {who}. Upgrade them first, or re-run with --force",
        )


class MigrationRunner:
    def __init__(
        self,
        database_url: str,
        *,
        domains: list[str] | None = None,
        lock_timeout_ms: int = 5000,
        statement_timeout_ms: int = 600_000,
        wait_timeout: float = 600.0,
        force_revisions: set[str] | frozenset[str] = frozenset(),
        progress: Callable[[str], None] = lambda message: log.info(message),
    ):
        self.engine = sa.create_engine(to_sqlalchemy_url(database_url), poolclass=sa.pool.NullPool)
        self.specs = installed_domains(domains)
        self.lock_timeout_ms = lock_timeout_ms
        self.statement_timeout_ms = statement_timeout_ms
        self.wait_timeout = wait_timeout
        self.force_revisions = set(force_revisions)
        self.progress = progress

    def run(self) -> list[DomainResult]:
        try:
            with self.engine.connect() as lock_conn:
                lock_conn.execution_options(isolation_level="AUTOCOMMIT")
                self._acquire(lock_conn)
                try:
                    return [self._upgrade(spec) for spec in self.specs]
                finally:
                    lock_conn.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)", {"k": ADVISORY_LOCK_KEY})
        finally:
            self.engine.dispose()

    def _acquire(self, conn: sa.Connection) -> None:
        deadline = time.monotonic() + self.wait_timeout
        announced = False
        while not conn.exec_driver_sql("SELECT pg_try_advisory_lock(%(k)s)", {"k": ADVISORY_LOCK_KEY}).scalar():
            if not announced:
                holder = conn.exec_driver_sql(
                    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE l.locktype = 'advisory' AND l.objid = %(k)s AND l.granted LIMIT 1",
                    {"k": ADVISORY_LOCK_KEY & 0xFFFFFFFF},
                ).first()
                who = f"{holder.application_name or 'unknown'} (pid {holder.pid})" if holder else "another runner"
                self.progress(f"waiting for {who} to finish migrating")
                announced = True
            if time.monotonic() > deadline:
                raise MigrationError("all", f"gave up waiting {self.wait_timeout:.0f}s for the migration lock")
            time.sleep(0.2)

    def _exclude_registrations(self, conn: sa.Connection, spec: DomainSpec) -> None:
        try:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": COMPATIBILITY_LOCK_KEY})
        except sa.exc.OperationalError:
            raise MigrationError(spec.name, "an instance is registering (checking its compatibility) and did not "
                                            f"finish within {self.lock_timeout_ms} ms; nothing applied, run again") from None

    def _pending(self, script: ScriptDirectory, spec: DomainSpec, before: tuple[str, ...]) -> list | None:  # noqa: ARG002 - same signature as the other per-domain steps
        """Scripts to apply, oldest first; None when the database is ahead of this package."""
        for rev in before:
            try:
                script.get_revision(rev)
            except Exception:  # noqa: BLE001 - alembic raises several types for an unknown revision
                return None
        lower = before[0] if len(before) == 1 else (before or "base")
        return list(reversed(list(script.iterate_revisions("heads", lower))))

    def _upgrade(self, spec: DomainSpec) -> DomainResult:
        applied: list[str] = []
        cfg = alembic_config(spec)
        script = ScriptDirectory.from_config(cfg)
        with self.engine.connect() as conn:
            with conn.begin():
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)}")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.statement_timeout_ms)}")
                pg = conn.connection.driver_connection
                owner = roles_apply.owner_role(pg, spec)
                if owner is None:
                    # A bare database (no `acmectl roles apply` yet): whoever runs us creates and owns.
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{spec.schema}"')
                elif not conn.exec_driver_sql("SELECT to_regnamespace(%(s)s) IS NOT NULL", {"s": spec.schema}).scalar():
                    raise MigrationError(spec.name, f"schema {spec.schema} does not exist; run `acmectl roles apply` "
                                                    "(it creates each schema owned by its owner role)")
                with _as_role(conn, owner):
                    ensure_ledger(conn, spec.schema)
                before = db_heads(conn, spec)
                pending = self._pending(script, spec, before)
                if pending is None:
                    self.progress(f"{spec.name}: database is at {', '.join(before)}, newer than "
                                  f"{spec.package} {spec.version} knows; nothing to do")
                    return DomainResult(spec.name, spec.version, before, before, [])
                try:
                    policies = {s.revision: policy_of(s) for s in pending}
                except RevisionPolicyError as exc:
                    raise MigrationError(spec.name, str(exc)) from None
                if any(policy.phase == "contract" for policy in policies.values()):
                    # Exclusive against registering instances (instances.COMPATIBILITY_LOCK_KEY), held to
                    # COMMIT: an instance checking its compatibility right now finishes (and is seen live
                    # below) or waits and then sees this contract applied. Bounded by lock_timeout.
                    self._exclude_registrations(conn, spec)
                forced: dict[str, list[dict]] = {}
                for rev, policy in policies.items():
                    blocking = blockers(conn, spec, policy)
                    if not blocking:
                        continue
                    if rev not in self.force_revisions:
                        raise MigrationBlocked(spec, policy, blocking)
                    forced[rev] = [{"service": i.service, "host": i.host, "pid": i.pid,
                                    "version": i.packages[spec.package]} for i in blocking]
                    self.progress(f"{spec.name}: FORCING contract revision {rev} past {len(blocking)} live instance(s)")

                def on_apply(ctx, step, heads, run_args):  # noqa: ARG001
                    rev = step.up_revision_id
                    applied.append(rev)
                    record(conn, spec, policies[rev], forced_blockers=forced.get(rev))

                cfg.attributes["on_version_apply"] = on_apply
                cfg.attributes["connection"] = conn
                cfg.attributes["lock_timeout_ms"] = self.lock_timeout_ms
                cfg.attributes["statement_timeout_ms"] = self.statement_timeout_ms
                # The domain's migrations run AS its owner role, so every object they create is owned
                # by it (not by whoever logged in), and the owner grants the declared runtime privileges.
                with _as_role(conn, owner):
                    try:
                        command.upgrade(cfg, "head")
                    except Exception as exc:
                        raise MigrationError(spec.name, f"migration failed, nothing applied: {exc}") from exc
                    if owner is not None:
                        for step in roles_apply.runtime_grants(pg, spec):
                            conn.exec_driver_sql(step.sql)
                            self.progress(f"{spec.name}: {step.sql}")
                after = db_heads(conn, spec)
        result = DomainResult(spec.name, spec.version, before, after, applied)
        if applied:
            self.progress(f"{spec.name} ({spec.package} {spec.version}): applied {', '.join(applied)}")
        else:
            self.progress(f"{spec.name} ({spec.package} {spec.version}): up to date at {', '.join(after) or 'base'}")
        return result
