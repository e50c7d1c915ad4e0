"""Connecting, planning, applying, and the login secrets of the roles `apply` manages.

`apply` runs every step in ONE transaction under an advisory lock of the database, so two services
applying at once (two venvs, two test fixtures) serialise, and a failed step leaves the database as it was.
Passwords never appear in SQL text: the server receives a SCRAM verifier computed by libpq.
"""
from __future__ import annotations

import os
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ..config import to_libpq_url
from ..domains import DomainSpec, installed_domains
from .declare import ServiceAccess, installed_services
from .names import RoleNameError, RoleNames, quote
from .plan import Planner, Step

_LOCK_KEY = 0x6163_6D72   # "acmr": one roles writer per database at a time


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(to_libpq_url(url), autocommit=True, application_name="acmectl/roles", connect_timeout=10)


def names_for(conn: psycopg.Connection) -> RoleNames:
    return RoleNames.for_database(conn.execute("SELECT current_database()").fetchone()[0])


def plan(conn: psycopg.Connection, *, specs: list[DomainSpec] | None = None,
         services: list[ServiceAccess] | None = None) -> list[Step]:
    specs = installed_domains() if specs is None else specs
    services = list(installed_services().values()) if services is None else services
    with conn.transaction():
        return Planner(conn, specs, names_for(conn), services).steps()


@dataclass
class Applied:
    steps: list[Step]
    secrets: dict[str, Path]   # logical name ("migrator", a service) -> the file holding its DATABASE_URL


def apply(conn: psycopg.Connection, *, specs: list[DomainSpec] | None = None,
          services: list[ServiceAccess] | None = None, secrets_dir: Path | None = None,
          admin_url: str | None = None) -> Applied:
    specs = installed_domains() if specs is None else specs
    services = list(installed_services().values()) if services is None else services
    names = names_for(conn)
    written: dict[str, Path] = {}
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        steps = Planner(conn, specs, names, services).steps()
        for step in steps:
            conn.execute(step.sql)
        # Postgres only warns when a REVOKE or GRANT by a role without the right does nothing: prove the
        # database now matches, or roll everything back.
        left = Planner(conn, specs, names, services).steps() if steps else []
        if left:
            raise RuntimeError(f"the login may not make these changes (still to do: {left[0].sql}); "
                               "run it as the cluster administrator")
        if secrets_dir is not None:
            logins = {"migrator": names.migrator} | {a.service: names.service(a.service) for a in services}
            for logical, role in logins.items():
                written[logical] = _ensure_login_secret(conn, secrets_dir, logical, role, admin_url)
    return Applied(steps, written)


def read_secret(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _ensure_login_secret(conn, secrets_dir: Path, logical: str, role: str, admin_url: str | None) -> Path:
    """One file per login (mode 600): ACME_DB_ROLE and DATABASE_URL. An existing file's password is kept
    (and set again, so a re-created role gets it back); a missing one is generated."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / logical
    password = read_secret(path).get("ACME_DB_PASSWORD") if path.exists() else None
    password = password or secrets.token_urlsafe(24)
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    conn.execute(f"ALTER ROLE {quote(role)} PASSWORD '{verifier}'")
    url = login_url(admin_url, role, password) if admin_url else ""
    body = (f"# database login of {logical} (written by acmectl roles apply)\n"
            f"ACME_DB_ROLE={role}\nACME_DB_PASSWORD={password}\n" + (f"DATABASE_URL={url}\n" if url else ""))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body)
    os.chmod(path, 0o600)
    return path


def login_url(admin_url: str, role: str, password: str) -> str:
    """The admin URL with another login: same host(s), port, database and options."""
    parts = urllib.parse.urlsplit(to_libpq_url(admin_url))
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = f"{urllib.parse.quote(role, safe='')}:{urllib.parse.quote(password, safe='')}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{auth}@{host}"))


def runtime_grants(conn: psycopg.Connection, spec: DomainSpec) -> list[Step]:
    """The GRANTs one domain's readers and writers still lack, for the migration runner to issue as the
    schema's owner right after migrating it: a new table is usable the moment it exists, without an
    administrator. Never revokes: an older library version still running may need what a newer one
    stopped declaring (revocation is `acmectl roles apply`'s, run when the old version is gone)."""
    names = names_for(conn)
    have = {r[0] for r in conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
        ([names.reader(spec.schema), names.writer(spec.schema)],)).fetchall()}
    if len(have) < 2:
        return []
    planner = Planner(conn, [spec], names, [])
    grants = [s for s in planner.steps() if s.sql.startswith("GRANT ") and " ON " in s.sql
              and " ON DATABASE " not in s.sql and " ON SCHEMA \"public\"" not in s.sql]
    # A capability's group role appears with the `roles apply` of the version that declares it; until
    # then there is no one to grant it to (apply grants it when it creates the role).
    roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    return [s for s in grants if _grantee(s.sql) in roles]


def _grantee(sql: str) -> str:
    quoted = sql.rsplit(" TO ", 1)[-1].strip()
    return quoted[1:-1].replace('""', '"') if quoted.startswith('"') else quoted


def owner_role(conn: psycopg.Connection, spec: DomainSpec) -> str | None:
    """The schema's owner role if this database uses roles (None: a bare database, migrated as whoever runs)."""
    try:
        role = names_for(conn).owner(spec.schema)
    except RoleNameError:
        return None   # a database name that cannot prefix roles: no roles were made for it
    row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return role if row else None


def service_login_env(path: Path) -> str:
    return read_secret(path).get("DATABASE_URL", "")


__all__ = ["connect", "plan", "apply", "Applied", "runtime_grants", "owner_role", "login_url", "read_secret",
           "service_login_env"]
