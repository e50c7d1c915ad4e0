"""The version-skew policy: revision phases, the per-schema ledger, and who is blocked by what.

expand   additive only; every live version of the library keeps working.
contract removes or changes something older versions use; declares `min_compatible_version`, and
         may only be applied once no live instance runs an older version of the library.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from packaging.version import InvalidVersion, Version

from ..domains import DomainSpec
from ..instances import LiveInstance, live_instances

PHASES = ("expand", "contract")
LEDGER = "acme_migration_ledger"


class RevisionPolicyError(ValueError):
    pass


@dataclass(frozen=True)
class RevisionPolicy:
    revision: str
    phase: str
    min_compatible_version: str | None


def policy_of(script) -> RevisionPolicy:
    """Read phase/min_compatible_version from an Alembic Script's module, refusing undeclared ones."""
    module = script.module
    phase = getattr(module, "phase", None)
    if phase not in PHASES:
        raise RevisionPolicyError(
            f"revision {script.revision} must declare phase = 'expand' or 'contract' (got {phase!r})")
    minimum = getattr(module, "min_compatible_version", None)
    if phase == "contract":
        if not minimum:
            raise RevisionPolicyError(
                f"contract revision {script.revision} must declare min_compatible_version "
                "(the oldest library version that works with it)")
        try:
            Version(minimum)
        except InvalidVersion:
            raise RevisionPolicyError(
                f"revision {script.revision}: min_compatible_version {minimum!r} is not a version") from None
    return RevisionPolicy(script.revision, phase, minimum)


def ensure_ledger(connection: sa.Connection, schema: str) -> None:
    connection.exec_driver_sql(
        f"""
        CREATE TABLE IF NOT EXISTS "{schema}".{LEDGER} (
            revision text PRIMARY KEY,
            phase text NOT NULL CHECK (phase IN ('expand', 'contract')),
            applied_by_package text NOT NULL,
            applied_by_version text NOT NULL,
            min_compatible_version text,
            forced boolean NOT NULL DEFAULT false,
            forced_blockers jsonb,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def record(connection: sa.Connection, spec: DomainSpec, policy: RevisionPolicy, *, forced_blockers=None) -> None:
    import json

    connection.exec_driver_sql(
        f'INSERT INTO "{spec.schema}".{LEDGER} (revision, phase, applied_by_package, applied_by_version, '
        "min_compatible_version, forced, forced_blockers) VALUES (%(r)s, %(p)s, %(pkg)s, %(v)s, %(m)s, %(f)s, %(b)s) "
        "ON CONFLICT (revision) DO NOTHING",
        {"r": policy.revision, "p": policy.phase, "pkg": spec.package, "v": spec.version,
         "m": policy.min_compatible_version, "f": bool(forced_blockers),
         "b": json.dumps(forced_blockers) if forced_blockers else None},
    )


def required_minimum(connection: sa.Connection, schema: str) -> tuple[str, str] | None:
    """(min_compatible_version, revision) of the strictest contract applied to the schema, if any."""
    exists = connection.exec_driver_sql("SELECT to_regclass(%(t)s) IS NOT NULL",
                                        {"t": f'"{schema}".{LEDGER}'}).scalar()
    if not exists:
        return None
    rows = connection.exec_driver_sql(
        f'SELECT min_compatible_version, revision FROM "{schema}".{LEDGER} WHERE min_compatible_version IS NOT NULL'
    ).all()
    if not rows:
        return None
    best = max(rows, key=lambda r: Version(r[0]))
    return best[0], best[1]


def compatibility_problems(connection: sa.Connection, specs: list[DomainSpec],
                           versions: dict[str, str] | None = None) -> list[str]:
    """Installed libraries older than what the database's applied contract revisions require.

    `versions` (package -> version) overrides what is installed: a registering instance checks the versions
    it registers with (read once when it started), the ones the migration gate will judge it by.
    """
    problems = []
    for spec in specs:
        version = (versions or {}).get(spec.package, spec.version)
        required = required_minimum(connection, spec.schema)
        if required and _version(version) < Version(required[0]):
            problems.append(
                f"{spec.package} {version} is installed, but schema {spec.schema!r} requires "
                f"{spec.package} >= {required[0]} (contract revision {required[1]} is applied); "
                f"upgrade this service to {spec.package} {required[0]} or newer")
    return problems


def blockers(connection: sa.Connection, spec: DomainSpec, policy: RevisionPolicy,
             instances: list[LiveInstance] | None = None) -> list[LiveInstance]:
    """Live instances running a version of spec's library older than the contract revision allows."""
    if policy.phase != "contract":
        return []
    minimum = Version(policy.min_compatible_version)
    return [i for i in (live_instances(connection) if instances is None else instances)
            if spec.package in i.packages and _version(i.packages[spec.package]) < minimum]


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")
