"""What a domain declares its runtime needs, and what a service declares about its own access.

A domain ships its declaration beside its tables (`privileges.py`, referenced by its `DomainSpec`), so
the privileges travel in the wheel and change with the migrations that add the tables they name:

    RUNTIME = Privileges(
        read=(table("products", "SELECT"),),
        write=(table("products", "INSERT", "UPDATE"),),
    )

`read` is what any service that installs the domain gets; `write` is added unless the service narrows
the domain to read-only. The platform adds the tables it keeps in every domain schema itself (outbox,
migration ledger, alembic_version), so domains never name them.

A service declares its database access once, in its own package, found through the `acme.services`
entry-point group (as domains are found through `acme.domains`):

    ACCESS = ServiceAccess(service="backoffice", connection_limit=40, read_only=("orders",))
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata

SERVICE_ENTRY_POINT_GROUP = "acme.services"

TABLE_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
_COLUMN_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE"})   # what Postgres allows per column
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_SIGNATURE = re.compile(r"^([a-z_][a-z0-9_]*)\(([a-z0-9_, \[\]]*)\)$")


class DeclarationError(ValueError):
    pass


@dataclass(frozen=True)
class Grant:
    """One privilege on one object of the domain's own schema (never another schema)."""
    kind: str                       # "table" | "function"
    name: str                       # table name, or function name for kind "function"
    privilege: str                  # SELECT, INSERT, UPDATE, DELETE, EXECUTE
    column: str | None = None       # column-level grant (SELECT/INSERT/UPDATE only)
    args: str = ""                  # function argument types, "text, uuid"

    @property
    def object_sql(self) -> str:
        return f'"{self.name}"' if self.kind == "table" else f'"{self.name}"({self.args})'


def table(name: str, *privileges: str, columns: tuple[str, ...] | list[str] = ()) -> tuple[Grant, ...]:
    """`table("accounts", "SELECT", columns=("id", "email"))`: the privileges on a table, or on some of
    its columns only (how identity keeps `password_hash` unreadable)."""
    if not _IDENT.match(name):
        raise DeclarationError(f"table name {name!r} must be a plain lower-case identifier in the domain's schema")
    if not privileges:
        raise DeclarationError(f"table {name!r}: name at least one privilege")
    grants = []
    for privilege in privileges:
        privilege = privilege.upper()
        if privilege not in TABLE_PRIVILEGES:
            raise DeclarationError(f"table {name!r}: {privilege!r} is not one of {sorted(TABLE_PRIVILEGES)}")
        if columns and privilege not in _COLUMN_PRIVILEGES:
            raise DeclarationError(f"table {name!r}: {privilege} cannot be limited to columns")
        for column in columns or (None,):
            if column is not None and not _IDENT.match(column):
                raise DeclarationError(f"table {name!r}: column {column!r} is not a plain identifier")
            grants.append(Grant("table", name, privilege, column))
    return tuple(grants)


def function(signature: str) -> tuple[Grant, ...]:
    """`function("password_challenge(text)")`: EXECUTE on one of the domain's functions."""
    m = _SIGNATURE.match(signature.strip())
    if not m:
        raise DeclarationError(f"function {signature!r} must look like name(type, type)")
    args = ", ".join(a.strip() for a in m.group(2).split(",") if a.strip())
    return (Grant("function", m.group(1), "EXECUTE", None, args),)


def _flatten(groups) -> tuple[Grant, ...]:
    out: list[Grant] = []
    for g in groups:
        out.extend(g if isinstance(g, tuple) else (g,))
    return tuple(out)


@dataclass(frozen=True)
class Privileges:
    """`read` and `write` go to every service installing the domain (write unless narrowed); a
    `capabilities` entry ({"audit": table(...)}) only to services that ask for it by name
    (ServiceAccess.capabilities, "<domain>.<capability>"), through a group role of its own."""
    read: tuple = ()
    write: tuple = ()
    capabilities: tuple | dict = ()   # given as a dict; kept as ((name, grants), ...) so the spec stays hashable

    def __post_init__(self):
        object.__setattr__(self, "read", _flatten(self.read))
        object.__setattr__(self, "write", _flatten(self.write))
        caps = self.capabilities.items() if isinstance(self.capabilities, dict) else self.capabilities
        normalized = []
        for name, grants in caps:
            if not _IDENT.match(name):
                raise DeclarationError(f"capability name {name!r} must be a plain lower-case identifier")
            normalized.append((name, _flatten(grants if isinstance(grants, (tuple, list)) else (grants,))))
        object.__setattr__(self, "capabilities", tuple(sorted(normalized)))

    def capability(self, name: str) -> tuple[Grant, ...] | None:
        return dict(self.capabilities).get(name)

    def with_platform_tables(self, *, outbox: bool) -> "Privileges":
        """The declaration plus the platform-owned tables in the schema (the skew guard reads the ledger
        and alembic_version; consumers read the outbox; every writer publishes into it)."""
        read = table("alembic_version", "SELECT") + table("acme_migration_ledger", "SELECT")
        write: tuple[Grant, ...] = ()
        if outbox:
            read += table("outbox", "SELECT")
            write += table("outbox", "INSERT")
        return Privileges(read=self.read + read, write=self.write + write, capabilities=self.capabilities)


NO_PRIVILEGES = Privileges()


@dataclass(frozen=True)
class ServiceAccess:
    """A service's database access: its login role gets each installed domain's read privileges, plus
    the write privileges of every domain not listed in `read_only`, the capabilities it names
    ("platform.audit": a domain's privileges granted only to services that need them), and at most
    `connection_limit` connections (its budget: instances x workers x (pool + overflow) + listener and heartbeat)."""
    service: str
    connection_limit: int
    read_only: tuple[str, ...] = field(default_factory=tuple)
    capabilities: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if not _IDENT.match(self.service.replace("-", "_")):
            raise DeclarationError(f"service name {self.service!r} must be a plain identifier")
        if not 1 <= int(self.connection_limit) <= 10_000:
            raise DeclarationError(f"{self.service}: connection_limit must be between 1 and 10000")
        object.__setattr__(self, "read_only", tuple(self.read_only))
        object.__setattr__(self, "capabilities", tuple(sorted(self.capabilities)))
        for cap in self.capabilities:
            domain, _, name = cap.partition(".")
            if not (_IDENT.match(domain) and _IDENT.match(name)):
                raise DeclarationError(f"{self.service}: capability {cap!r} must look like 'domain.name'")


def installed_services() -> dict[str, ServiceAccess]:
    """Service declarations installed in this environment (one in a service's venv)."""
    found: dict[str, ServiceAccess] = {}
    for ep in metadata.entry_points(group=SERVICE_ENTRY_POINT_GROUP):
        access = ep.load()
        if not isinstance(access, ServiceAccess):
            raise DeclarationError(f"entry point {ep.name!r} in {SERVICE_ENTRY_POINT_GROUP} is not a ServiceAccess")
        found[access.service] = access
    return found


def service_reach(service: str) -> set[str] | None:
    """The distributions (canonical names) a service's own distribution pulls in, transitively: the domains
    its login may be granted. In the service's own venv that is every installed domain; in an environment
    holding several services (the all-in-one) it keeps each service to what its own venv would hold.
    None when no installed distribution declares `service` (e.g. a declaration built by hand in a test)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = next((ep.dist.name for ep in metadata.entry_points(group=SERVICE_ENTRY_POINT_GROUP)
                 if ep.name == service and ep.dist is not None), None)
    if root is None:
        return None
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requirements:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen
