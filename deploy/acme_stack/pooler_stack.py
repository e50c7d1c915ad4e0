"""`make up POOLER=pgbouncer`: PgBouncer between the services and the stack's PostgreSQL.

Without POOLER (or POOLER=none) nothing here runs and services connect straight to PostgreSQL. With it,
after the roles exist, one PgBouncer (pooler.py) is started on 127.0.0.1:ACME_PGBOUNCER_PORT (default 6432)
with an auth file made from the services' logins (.run/postgres/roles/<service>), and each service gets
  DATABASE_URL         its login through PgBouncer (request traffic, transaction mode)
  DATABASE_DIRECT_URL  its login straight to PostgreSQL (LISTEN, the registry heartbeat, acmectl)
Migrations never go through it (the migrator's login is not in the auth file).
"""
from __future__ import annotations

import os
import urllib.parse

from . import config, fingerprint, pooler, proc, roles, supervisor
from .config import Layout
from .ui import StackError

DEFAULT_PORT = 6432
CHOICES = ("none", "pgbouncer")


def choice() -> str:
    value = os.environ.get("POOLER", "").strip().lower() or "none"
    if value not in CHOICES:
        raise StackError(f"POOLER={value!r}: choose one of {', '.join(CHOICES)}")
    return value


def port() -> int:
    return config.env_port("ACME_PGBOUNCER_PORT", DEFAULT_PORT)


def ensure(layout: Layout, service_names: list[str]) -> tuple[str, dict[str, dict[str, str]]]:
    """Start (or keep) PgBouncer when POOLER=pgbouncer, else stop one left from an earlier run.

    Returns a status line and, per service, the database variables it runs with."""
    direct = {name: roles.login_url(layout, name) for name in service_names}
    if choice() == "none":
        stopped = supervisor.stop(layout.pids, pooler.NAME)
        # "nothing to do" when idle: a second `make up` must say it changed nothing (tests/test_stack.py).
        return ("stopped the one running (POOLER is not pgbouncer)" if stopped
                else "not used, nothing to do (POOLER=pgbouncer puts PgBouncer in front)",
                {name: {"DATABASE_URL": url} for name, url in direct.items()})
    try:
        pooler.binary(install=True)
    except pooler.PoolerError as e:
        raise StackError(str(e)) from None
    server = urllib.parse.urlsplit(next(iter(direct.values()))) if direct else None
    bouncer = pooler.Bouncer(pooler.Config(
        listen_port=port(), server_host=(server.hostname if server else None) or "127.0.0.1",
        server_port=(server.port if server else None) or config.env_port("ACME_PG_PORT", config.DEFAULT_PG_PORT),
        workdir=layout.run / "pgbouncer"))
    # One pool per service role, capped at the pool size: a role's requests never take more server
    # connections than its budget counts.
    bouncer.config.role_limits = {pooler.login_of(url).user: bouncer.config.default_pool_size for url in direct.values()}
    bouncer.add_logins([pooler.login_of(url) for url in direct.values()])
    bouncer.write()
    want = fingerprint.sha256_text(bouncer.config.render(), bouncer.config.auth_file.read_text()
                                   if os.access(bouncer.config.auth_file, os.R_OK) else "")
    rec = supervisor.load(layout.pids, pooler.NAME)
    status = "started"
    if supervisor.alive(rec) and rec.fingerprint == want:
        status = "already up, nothing to do"
    else:
        if supervisor.alive(rec):
            supervisor.stop(layout.pids, pooler.NAME)
            status = "restarted (changed)"
        else:
            supervisor.forget(layout.pids, pooler.NAME)
        if proc.port_open(port()):
            raise StackError(f"pgbouncer: port {port()} is already in use by another program (set ACME_PGBOUNCER_PORT)")
        log = layout.log(pooler.NAME)
        child = supervisor.start(pooler.NAME, bouncer.command(), cwd=layout.run, env=proc.isolated_env(), log=log)
        supervisor.save(layout.pids, supervisor.Record(
            name=pooler.NAME, pid=child.pid, start_time=supervisor.start_time(child.pid) or 0, fingerprint=want,
            url=f"postgresql://127.0.0.1:{port()}", log=str(log), extra={"port": port(), "kind": "pooler"}))
        try:
            bouncer.wait_listening(child)
        except pooler.PoolerError as e:
            supervisor.stop(layout.pids, pooler.NAME)
            raise StackError(str(e), log) from None
    env = {name: {"DATABASE_URL": pooler.pooled_url(url, "127.0.0.1", port()), "DATABASE_DIRECT_URL": url,
                  "ACME_DB_POOLER_CONNECTIONS": str(bouncer.config.default_pool_size)}
           for name, url in direct.items()}
    return f"127.0.0.1:{port()} (transaction mode, one pool per service role): {status}", env


def stop(layout: Layout) -> bool:
    return supervisor.stop(layout.pids, pooler.NAME)
