"""Declared state vs the database: the SQL that brings one to the other, and applying it.

Who is who (all derived from RoleNames; see the package README's "Who may do what"):
- `<p>_<schema>_owner`   NOLOGIN, owns the schema and every object in it; migrations run as it.
- `<p>_<schema>_reader`  NOLOGIN, USAGE on the schema plus the domain's declared `read` privileges.
- `<p>_<schema>_writer`  NOLOGIN, member of the reader, plus the declared `write` privileges.
- `<p>_migrator`         LOGIN, may SET ROLE to every owner; nothing else.
- `<p>_svc_<service>`    LOGIN, CONNECTION LIMIT from the service's declaration; member of the reader or
                         writer of each domain installed with it, and the platform's writer. Nothing is
                         granted to it directly, so any direct grant is drift.
The privileges of the readers and writers are exactly the declarations: anything else granted on a domain
schema or its objects (to anyone but the owner) is drift and `plan` revokes it.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from ..domains import PLATFORM_DOMAIN, DomainSpec
from . import catalog
from .catalog import PUBLIC, Acl
from .declare import NO_PRIVILEGES, DeclarationError, Privileges, ServiceAccess, service_reach
from .names import RoleNames, quote

COMMENT_TAG = "acme-service:"
# Memberships a login role must never hold: they turn SQL into file or shell access on the server.
_FORBIDDEN_ATTRS = ("superuser", "createdb", "createrole", "replication", "bypassrls")


@dataclass(frozen=True)
class Step:
    sql: str
    why: str

    def __str__(self) -> str:
        return f"{self.sql};  -- {self.why}"


def domain_privileges(spec: DomainSpec) -> Privileges:
    declared = getattr(spec, "privileges", None) or NO_PRIVILEGES
    return declared.with_platform_tables(outbox=spec.schema != PLATFORM_DOMAIN.schema)


def service_comment(access: ServiceAccess, modes: dict[str, str], capabilities: list[str] = ()) -> str:
    recorded = {"service": access.service, "connection_limit": access.connection_limit, "schemas": modes}
    if capabilities:   # only when declared: roles recorded before capabilities existed stay in sync
        recorded["capabilities"] = sorted(capabilities)
    return COMMENT_TAG + json.dumps(recorded, sort_keys=True)


def service_capabilities(access: ServiceAccess, specs: list[DomainSpec], names: RoleNames) -> list[str]:
    """The group roles of the capabilities a service declares; a capability no installed domain offers
    is a declaration error (a typo must not silently grant nothing)."""
    by_name = {s.name: s for s in specs}
    groups = []
    for cap in access.capabilities:
        domain, _, name = cap.partition(".")
        spec = by_name.get(domain)
        if spec is None or domain_privileges(spec).capability(name) is None:
            raise DeclarationError(f"{access.service} asks for capability {cap!r}, which no installed domain declares")
        groups.append(names.capability(spec.schema, name))
    return groups


def parse_comment(comment: str | None) -> dict | None:
    if not comment or not comment.startswith(COMMENT_TAG):
        return None
    try:
        data = json.loads(comment[len(COMMENT_TAG):])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def specs_within_reach(access: ServiceAccess, specs: list[DomainSpec]) -> list[DomainSpec]:
    """The installed domains this service's own distribution requires (declare.service_reach): several
    services installed together (the all-in-one) must not widen each other's grants."""
    reach = service_reach(access.service)
    if reach is None:
        return specs
    from packaging.utils import canonicalize_name

    return [s for s in specs if s.name == PLATFORM_DOMAIN.name or canonicalize_name(s.package) in reach]


def service_modes(access: ServiceAccess, specs: list[DomainSpec]) -> dict[str, str]:
    """{schema: "read" | "write"} for every installed domain; the platform's schema is always written
    (instance registry, consumer offsets)."""
    by_name = {s.name: s for s in specs}
    unknown = sorted(set(access.read_only) - set(by_name))
    if unknown:
        raise DeclarationError(f"{access.service} narrows {', '.join(unknown)} to read-only, but "
                               f"{'it is' if len(unknown) == 1 else 'they are'} not installed here")
    return {s.schema: ("read" if s.name in access.read_only else "write") for s in specs}


class Planner:
    """Computes the steps for one database. `services` are the declarations managed from this environment;
    other service roles of the same prefix are checked against the declaration recorded on them."""

    def __init__(self, conn, specs: list[DomainSpec], names: RoleNames, services: list[ServiceAccess] = ()):
        self.conn = conn
        self.specs = specs
        self.names = names
        self.services = list(services)
        self.schemas = [s.schema for s in specs]

    # -- the declared state -------------------------------------------------------------------
    def _wanted_roles(self, existing: dict[str, catalog.Role]) -> dict[str, dict]:
        n = self.names
        want: dict[str, dict] = {}
        for spec in self.specs:
            want[n.owner(spec.schema)] = {"login": False, "limit": -1, "member_of": set()}
            want[n.reader(spec.schema)] = {"login": False, "limit": -1, "member_of": set()}
            want[n.writer(spec.schema)] = {"login": False, "limit": -1, "member_of": {n.reader(spec.schema)}}
            for cap, _grants in domain_privileges(spec).capabilities:
                want[n.capability(spec.schema, cap)] = {"login": False, "limit": -1, "member_of": set()}
        # partial: owner roles of schemas this environment does not install are not ours to revoke.
        want[n.migrator] = {"login": True, "limit": -1, "member_of": {n.owner(s) for s in self.schemas},
                            "partial": True}
        managed = set()
        for access in self.services:
            specs = specs_within_reach(access, self.specs)
            modes = service_modes(access, specs)
            caps = service_capabilities(access, specs, n)
            role = n.service(access.service)
            managed.add(role)
            want[role] = {"login": True, "limit": access.connection_limit,
                          "member_of": {(n.writer(s) if m == "write" else n.reader(s)) for s, m in modes.items()}
                          | set(caps),
                          "comment": service_comment(access, modes, caps)}
        # Service roles created from another environment (another service's venv): their recorded
        # declaration is the truth for their memberships; only groups this environment knows are judged.
        for name, role in existing.items():
            if name in managed or not name.startswith(n.prefix + "_svc_"):
                continue
            recorded = parse_comment(role.comment)
            if recorded is None:
                continue
            groups = {(n.writer(s) if m == "write" else n.reader(s)) for s, m in recorded.get("schemas", {}).items()}
            groups |= {g for g in recorded.get("capabilities", []) if isinstance(g, str)}
            want[name] = {"login": True, "limit": int(recorded.get("connection_limit", -1)),
                          "member_of": groups, "comment": role.comment, "partial": True}
        return want

    def _wanted_acl(self, db_name: str) -> set[Acl]:
        n = self.names
        want: set[Acl] = set()
        db = f"DATABASE {quote(db_name)}"
        for role in self._login_roles():
            want.add(Acl(db, role, "CONNECT"))
        tables = catalog.existing_tables(self.conn, self.schemas)
        for spec in self.specs:
            want.add(Acl(f"SCHEMA {quote(spec.schema)}", n.reader(spec.schema), "USAGE"))
            privileges = domain_privileges(spec)
            holders = [(n.reader(spec.schema), privileges.read), (n.writer(spec.schema), privileges.write)]
            holders += [(n.capability(spec.schema, cap), grants) for cap, grants in privileges.capabilities]
            for grantee, grants in holders:
                for g in grants:
                    if g.kind == "table":
                        if (spec.schema, g.name) in tables:
                            want.add(Acl(f"TABLE {quote(spec.schema)}.{quote(g.name)}", grantee, g.privilege, g.column))
                    else:
                        sig = self.conn.execute("SELECT to_regprocedure(%s)::text",
                                                (f"{spec.schema}.{g.name}({g.args})",)).fetchone()[0]
                        if sig is not None:
                            want.add(Acl(f"FUNCTION {sig}", grantee, "EXECUTE"))
        return want

    def _login_roles(self) -> dict[str, None]:
        existing = catalog.roles(self.conn)
        return {r: None for r, w in self._wanted_roles(existing).items() if w["login"]}

    # -- the difference ---------------------------------------------------------------------
    def steps(self) -> list[Step]:
        self.conn.execute("SET LOCAL search_path = pg_catalog")   # regprocedure text schema-qualified, always
        n = self.names
        existing = catalog.roles(self.conn)
        want = self._wanted_roles(existing)
        steps: list[Step] = []

        for name, w in want.items():
            role = existing.get(name)
            login = "LOGIN" if w["login"] else "NOLOGIN"
            limit = w["limit"]
            if role is None:
                steps.append(Step(f"CREATE ROLE {quote(name)} {login} NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                  f"NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {limit}", "declared, missing"))
            else:
                bad = [a for a in _FORBIDDEN_ATTRS if getattr(role, a)]
                if bad or role.login != w["login"] or role.connection_limit != limit:
                    steps.append(Step(f"ALTER ROLE {quote(name)} {login} NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                      f"NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {limit}",
                                      "attributes differ from the declaration"
                                      + (f" ({', '.join(bad)})" if bad else "")))
            if w.get("comment") and (role is None or role.comment != w["comment"]):
                steps.append(Step(f"COMMENT ON ROLE {quote(name)} IS {_literal(w['comment'])}",
                                  "records the service's declaration (read by plan and status)"))

        members = catalog.memberships(self.conn)
        for name, w in want.items():
            have = {g for g, m in members if m == name}
            for group in sorted(w["member_of"] - have):
                if group in want or group in existing:
                    steps.append(Step(f"GRANT {quote(group)} TO {quote(name)}", "declared membership"))
            for group in sorted(have - w["member_of"]):
                if w.get("partial") and group.startswith(n.prefix + "_") and group not in want:
                    continue   # a group of a domain this environment does not install: not ours to judge
                steps.append(Step(f"REVOKE {quote(group)} FROM {quote(name)}", "membership not declared"))

        db_name, db_acl = catalog.database_acl(self.conn)
        wanted_acl = self._wanted_acl(db_name)
        ours = set(want)
        # On the database only PUBLIC and our own roles are judged: other roles of the cluster are not ours.
        db_have = {a for a in db_acl if a.grantee == PUBLIC or a.grantee in ours}
        db_want = {a for a in wanted_acl if a.object.startswith("DATABASE ")}
        steps += _acl_steps(db_want, db_have, "database")

        owners = catalog.schema_owners(self.conn, self.schemas)
        for spec in self.specs:
            owner = n.owner(spec.schema)
            if spec.schema not in owners:
                steps.append(Step(f"CREATE SCHEMA {quote(spec.schema)} AUTHORIZATION {quote(owner)}",
                                  f"{spec.package}'s schema, owned by its owner role"))
            elif owners[spec.schema] != owner:
                steps.append(Step(f"ALTER SCHEMA {quote(spec.schema)} OWNER TO {quote(owner)}", "owner role owns the schema"))
        for obj in catalog.owned_objects(self.conn, self.schemas):
            owner = n.owner(obj.schema)
            if obj.owner != owner:
                steps.append(Step(f"{obj.alter} OWNER TO {quote(owner)}", "owner role owns every object"))
        public_create = {a for a in catalog.schema_acl(self.conn, ["public"]) if a.privilege == "CREATE"}
        steps += _acl_steps(set(), public_create, "no role may create objects in public")
        schema_want = {a for a in wanted_acl if a.object.startswith("SCHEMA ")}
        steps += _acl_steps(schema_want, catalog.schema_acl(self.conn, self.schemas), "schema")
        obj_want = {a for a in wanted_acl if not a.object.startswith(("SCHEMA ", "DATABASE "))}
        steps += _acl_steps(obj_want, catalog.object_acl(self.conn, self.schemas), "object")

        for spec in self.specs:
            owner = n.owner(spec.schema)
            if owner not in existing or catalog.public_execute_by_default(self.conn, owner):
                steps.append(Step(f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote(owner)} REVOKE EXECUTE ON FUNCTIONS "
                                  "FROM PUBLIC", "functions a migration creates are not executable by every role"))
        return steps


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _who(grantee: str) -> str:
    return "PUBLIC" if grantee == PUBLIC else quote(grantee)


def _acl_steps(want: set[Acl], have: set[Acl], what: str) -> list[Step]:
    """GRANTs for what is missing and REVOKEs for what is extra, column privileges grouped per statement."""
    steps: list[Step] = []
    for verb, acls, prep, why in (("GRANT", want - have, "TO", f"declared {what} privilege"),
                                  ("REVOKE", have - want, "FROM", f"{what} privilege not declared")):
        grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        whole: dict[tuple[str, str], list[str]] = defaultdict(list)
        for a in sorted(acls):
            if a.column is None:
                whole[(a.object, a.grantee)].append(a.privilege)
            else:
                grouped[(a.object, a.grantee, a.privilege)].append(a.column)
        for (obj, grantee), privileges in whole.items():
            steps.append(Step(f"{verb} {', '.join(sorted(set(privileges)))} ON {obj} {prep} {_who(grantee)}", why))
        for (obj, grantee, privilege), columns in grouped.items():
            cols = ", ".join(quote(c) for c in sorted(columns))
            steps.append(Step(f"{verb} {privilege} ({cols}) ON {obj} {prep} {_who(grantee)}", why + " (columns)"))
    return steps
