"""Which domain packages are installed, found through the `acme.domains` entry-point group.

A domain package declares itself in its pyproject:

    [project.entry-points."acme.domains"]
    catalog = "acme_catalog.domain:DOMAIN"

so a service (or `acmectl`) learns its domains, their schemas, migrations and versions from what
is installed, never from a hand-kept list that drifts from the lock file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from importlib.resources import files
from pathlib import Path

from .devmode import running_version
from .roles.declare import Privileges, table
from .telemetry import instrument_domain

ENTRY_POINT_GROUP = "acme.domains"


@dataclass(frozen=True)
class DomainSpec:
    name: str                          # "catalog"
    package: str                       # distribution name, "acme-catalog"
    schema: str                        # Postgres schema it owns
    migrations: str                    # importable package holding env.py + versions/
    depends_on: tuple[str, ...] = field(default_factory=tuple)   # domains whose schema must exist first
    # What a service needs at run time in this schema (acme_platform.roles); None: nothing but the
    # platform-owned tables. Shipped in the wheel, so it changes with the migrations that add tables.
    privileges: Privileges | None = None

    @property
    def version(self) -> str:
        # An editable install (make dev) reads "1.1.0+dev": the registry and the skew guard must see
        # that this process runs working-tree code, not the released 1.1.0.
        return running_version(self.package)

    @property
    def migrations_path(self) -> Path:
        return Path(str(files(self.migrations)))


PLATFORM_DOMAIN = DomainSpec(
    name="platform",
    package="acme-platform",
    schema="acme_platform",
    migrations="acme_platform._schema",
    privileges=Privileges(
        read=(table("instances", "SELECT"), table("consumer_offsets", "SELECT"), table("dead_letters", "SELECT")),
        # The audit log is append-only for services (INSERT, SELECT; never UPDATE/DELETE). Only services
        # that declare the capability (ServiceAccess.capabilities, the backoffice console) get it.
        capabilities={"audit": table("audit_log", "SELECT", "INSERT")},
        # Every service registers itself and heartbeats; consumers move their offsets, park events that
        # keep failing as dead letters and mark replayed ones (operators' acmectl runs as the owner).
        write=(table("instances", "INSERT", "UPDATE", "DELETE"), table("consumer_offsets", "INSERT", "UPDATE"),
               table("dead_letters", "INSERT", "UPDATE")),
    ),
)


class DomainRegistryError(RuntimeError):
    pass


def installed_domains(names: list[str] | None = None) -> list[DomainSpec]:
    """All installed domains (or the named ones plus what they depend on), in dependency order,
    always starting with the platform's own schema."""
    found: dict[str, DomainSpec] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        spec = ep.load()
        if not isinstance(spec, DomainSpec):
            raise DomainRegistryError(f"entry point {ep.name!r} does not point at a DomainSpec")
        found[spec.name] = spec
        # Registration instruments the domain's public API (acme_platform.telemetry), for a domain whose
        # __init__ does not already end with instrument_domain(__name__) (idempotent when it does).
        instrument_domain(ep.module.split(".", 1)[0], spec.name)
    wanted = set(found) if names is None else set(names)
    for name in list(wanted):
        if name not in found and name != "platform":
            raise DomainRegistryError(f"domain {name!r} is not installed (installed: {', '.join(sorted(found)) or 'none'})")
    return [PLATFORM_DOMAIN] + _in_dependency_order(found, wanted - {"platform"})


def _in_dependency_order(found: dict[str, DomainSpec], wanted: set[str]) -> list[DomainSpec]:
    ordered: list[DomainSpec] = []
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise DomainRegistryError(f"dependency cycle through domain {name!r}")
        if name not in found:
            raise DomainRegistryError(f"a domain depends on {name!r}, which is not installed")
        visiting.add(name)
        for dep in found[name].depends_on:
            visit(dep)
        visiting.discard(name)
        done.add(name)
        ordered.append(found[name])

    for name in sorted(wanted):
        visit(name)
    return ordered
