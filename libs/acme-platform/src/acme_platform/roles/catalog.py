"""What the database has now: roles, memberships and privileges, read from the system catalogs.

Every privilege is reduced to one shape, (object, grantee, privilege), so that what is declared and what
exists compare as sets. Objects are the SQL that names them (`TABLE "catalog"."products"`, a column as
`TABLE "identity"."accounts" ("email")`), so a difference prints straight as a GRANT or REVOKE.
Reading the catalogs needs no privilege: `acmectl status` shows drift from any role.
"""
from __future__ import annotations

from dataclasses import dataclass

from .names import quote

PUBLIC = "PUBLIC"


@dataclass(frozen=True)
class Role:
    name: str
    superuser: bool
    createdb: bool
    createrole: bool
    login: bool
    replication: bool
    bypassrls: bool
    connection_limit: int
    comment: str | None


@dataclass(frozen=True, order=True)
class Acl:
    """One privilege on one object. `object` is SQL (`TABLE "s"."t"`, `SCHEMA "s"`, `FUNCTION "s"."f"(text)`),
    `column` is set for a column-level privilege, `grantee` is a role name or PUBLIC."""
    object: str
    grantee: str
    privilege: str
    column: str | None = None


def roles(conn) -> dict[str, Role]:
    rows = conn.execute(
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, rolbypassrls, "
        "rolconnlimit, shobj_description(oid, 'pg_authid') FROM pg_roles"
    ).fetchall()
    return {r[0]: Role(*r) for r in rows}


def memberships(conn) -> set[tuple[str, str]]:
    """(group, member) pairs; PG 16+ may hold one row per grantor, so a set."""
    return set(conn.execute(
        "SELECT g.rolname, m.rolname FROM pg_auth_members am "
        "JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member"
    ).fetchall())


def _grantee(oid_name: str | None) -> str:
    return PUBLIC if oid_name is None else oid_name


def database_acl(conn) -> tuple[str, set[Acl]]:
    rows = conn.execute(
        "SELECT d.datname, g.rolname, a.privilege_type, o.rolname "
        "FROM pg_database d JOIN pg_roles o ON o.oid = d.datdba, "
        "LATERAL aclexplode(COALESCE(d.datacl, acldefault('d'::\"char\", d.datdba))) a "
        "LEFT JOIN pg_roles g ON g.oid = a.grantee "
        "WHERE d.datname = current_database()"
    ).fetchall()
    name = conn.execute("SELECT current_database()").fetchone()[0]
    obj = f"DATABASE {quote(name)}"
    return name, {Acl(obj, _grantee(g), p) for _, g, p, owner in rows if g != owner}


def schema_owners(conn, schemas: list[str]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT n.nspname, o.rolname FROM pg_namespace n JOIN pg_roles o ON o.oid = n.nspowner "
        "WHERE n.nspname = ANY(%s)", (schemas,)
    ).fetchall()
    return dict(rows)


def schema_acl(conn, schemas: list[str]) -> set[Acl]:
    rows = conn.execute(
        "SELECT n.nspname, g.rolname, a.privilege_type FROM pg_namespace n, "
        "LATERAL aclexplode(COALESCE(n.nspacl, acldefault('n'::\"char\", n.nspowner))) a "
        "LEFT JOIN pg_roles g ON g.oid = a.grantee "
        "WHERE n.nspname = ANY(%s) AND a.grantee <> n.nspowner", (schemas,)
    ).fetchall()
    return {Acl(f"SCHEMA {quote(s)}", _grantee(g), p) for s, g, p in rows}


@dataclass(frozen=True)
class Owned:
    """An object in a managed schema and its owner; `alter` is the ALTER … OWNER TO prefix for it."""
    schema: str
    alter: str
    owner: str


def owned_objects(conn, schemas: list[str]) -> list[Owned]:
    out: list[Owned] = []
    # Relations (indexes follow their table; identity/serial sequences follow the table that owns them).
    for schema, name, kind, owner in conn.execute(
        "SELECT n.nspname, c.relname, c.relkind, o.rolname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles o ON o.oid = c.relowner "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
        "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
        "     AND d.objid = c.oid AND d.deptype IN ('a', 'i')))",
        (schemas,),
    ).fetchall():
        what = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}.get(kind, "TABLE")
        out.append(Owned(schema, f"ALTER {what} {quote(schema)}.{quote(name)}", owner))
    for schema, sig, owner, kind in conn.execute(
        "SELECT n.nspname, p.oid::regprocedure::text, o.rolname, p.prokind FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles o ON o.oid = p.proowner "
        "WHERE n.nspname = ANY(%s)", (schemas,)
    ).fetchall():
        what = "PROCEDURE" if kind == "p" else "FUNCTION"
        out.append(Owned(schema, f"ALTER {what} {sig}", owner))
    for schema, name, owner in conn.execute(
        "SELECT n.nspname, t.typname, o.rolname FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_roles o ON o.oid = t.typowner "
        "WHERE n.nspname = ANY(%s) AND t.typtype IN ('e', 'd')", (schemas,)
    ).fetchall():
        out.append(Owned(schema, f"ALTER TYPE {quote(schema)}.{quote(name)}", owner))
    return out


def object_acl(conn, schemas: list[str]) -> set[Acl]:
    """Table, view, sequence, column and function privileges in the given schemas, owners left out."""
    acl: set[Acl] = set()
    for schema, name, kind, grantee, privilege in conn.execute(
        "SELECT n.nspname, c.relname, c.relkind, g.rolname, a.privilege_type FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace, "
        "LATERAL aclexplode(COALESCE(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's'::\"char\" ELSE 'r'::\"char\" END, "
        "                                                 c.relowner))) a "
        "LEFT JOIN pg_roles g ON g.oid = a.grantee "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND a.grantee <> c.relowner",
        (schemas,),
    ).fetchall():
        what = "SEQUENCE" if kind == "S" else "TABLE"
        acl.add(Acl(f"{what} {quote(schema)}.{quote(name)}", _grantee(grantee), privilege))
    for schema, name, column, grantee, privilege in conn.execute(
        "SELECT n.nspname, c.relname, att.attname, g.rolname, a.privilege_type FROM pg_attribute att "
        "JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace, "
        "LATERAL aclexplode(att.attacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee "
        "WHERE n.nspname = ANY(%s) AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL "
        "AND a.grantee <> c.relowner",
        (schemas,),
    ).fetchall():
        acl.add(Acl(f"TABLE {quote(schema)}.{quote(name)}", _grantee(grantee), privilege, column))
    for sig, grantee, privilege in conn.execute(
        "SELECT p.oid::regprocedure::text, g.rolname, a.privilege_type FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace, "
        "LATERAL aclexplode(COALESCE(p.proacl, acldefault('f'::\"char\", p.proowner))) a "
        "LEFT JOIN pg_roles g ON g.oid = a.grantee "
        "WHERE n.nspname = ANY(%s) AND a.grantee <> p.proowner",
        (schemas,),
    ).fetchall():
        acl.add(Acl(f"FUNCTION {sig}", _grantee(grantee), privilege))
    return acl


def existing_tables(conn, schemas: list[str]) -> set[tuple[str, str]]:
    return set(conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')", (schemas,)
    ).fetchall())


def existing_functions(conn, schemas: list[str]) -> set[str]:
    """regprocedure text, e.g. `identity.password_challenge(text)` (schema-qualified when not on search_path)."""
    return {r[0] for r in conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = ANY(%s)", (schemas,)
    ).fetchall()}


def public_execute_by_default(conn, owner: str) -> bool:
    """Whether functions `owner` creates will be executable by PUBLIC (Postgres' default)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_default_acl d, LATERAL aclexplode(d.defaclacl) a "
        "               WHERE d.defaclrole = r.oid AND d.defaclnamespace = 0 AND d.defaclobjtype = 'f' "
        "               AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'), "
        "       EXISTS (SELECT 1 FROM pg_default_acl d WHERE d.defaclrole = r.oid AND d.defaclnamespace = 0 "
        "               AND d.defaclobjtype = 'f') "
        "FROM pg_roles r WHERE r.rolname = %s", (owner,)
    ).fetchone()
    if row is None:
        return True
    public_granted, has_entry = row
    return public_granted or not has_entry
