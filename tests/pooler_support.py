"""Run the cross-service tests behind PgBouncer (suite tests:e2e-pgbouncer, ACME_TEST_POOLER=pgbouncer).

When the variable is set, every service and acmectl these tests start gets, instead of its login's URL:
  DATABASE_URL         the same login through one PgBouncer (transaction mode) started for the session
  DATABASE_DIRECT_URL  the login's URL straight to PostgreSQL (LISTEN, migrations, the registry heartbeat)
exactly as `make up POOLER=pgbouncer` runs them. Without it, nothing changes.

The PgBouncer is configured by deploy/acme_stack/pooler.py (the stack's own code, imported by path); its
auth file gains each login the first time a test uses it (the tests make a database with new roles per
module), and PgBouncer reads it again on SIGHUP.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

_REPO = Path(os.environ.get("ACME_REPO_ROOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(_REPO / "deploy"))
from acme_stack import pooler  # noqa: E402  (stdlib-only; the stack's PgBouncer configuration)

sys.path.remove(str(_REPO / "deploy"))

_lock = threading.Lock()
_bouncer: pooler.Bouncer | None = None
_process: subprocess.Popen | None = None


def enabled() -> bool:
    return os.environ.get("ACME_TEST_POOLER", "") == "pgbouncer"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start() -> pooler.Bouncer:
    global _bouncer, _process
    server = urllib.parse.urlsplit(os.environ["ACME_TEST_DATABASE_URL"])
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    os.chmod(workdir, 0o755)
    bouncer = pooler.Bouncer(pooler.Config(listen_port=_free_port(), server_host=server.hostname or "127.0.0.1",
                                           server_port=server.port or 5432, workdir=workdir / "pgbouncer"))
    bouncer.write()
    _process = subprocess.Popen(bouncer.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, start_new_session=True)
    bouncer.wait_listening(_process)
    atexit.register(stop)
    _bouncer = bouncer
    return bouncer


def stop() -> None:
    if _process is not None and _process.poll() is None:
        _process.terminate()
        try:
            _process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _process.kill()


def _wait_accepted(url: str, timeout: float = 15) -> None:
    """Until PgBouncer has read the new auth file (SIGHUP is asynchronous), a new login is refused."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def route(login_url: str) -> dict[str, str]:
    """The database variables for a process that connects as `login_url`."""
    if not enabled():
        return {"DATABASE_URL": login_url}
    with _lock:
        bouncer = _bouncer or _start()
        pooled = pooler.pooled_url(login_url, bouncer.config.listen_host, bouncer.config.listen_port)
        if bouncer.add_logins([pooler.login_of(login_url)]):
            bouncer.reload()
            _wait_accepted(pooled)
    return {"DATABASE_URL": pooled, "DATABASE_DIRECT_URL": login_url,
            # The role's pool in PgBouncer: what the connection budget counts for its requests.
            "ACME_DB_POOLER_CONNECTIONS": str(bouncer.config.default_pool_size)}



def console(command: str) -> list[dict[str, str]]:
    """A SHOW command on PgBouncer's console (SHOW POOLS, SHOW STATS), as its stats login."""
    import psycopg

    assert _bouncer is not None, "no PgBouncer was started in this session"
    with psycopg.connect(_bouncer.stats_url(), autocommit=True) as conn:
        # libpq's PQexec: the console speaks only the simple query protocol.
        res = conn.pgconn.exec_(command.encode())
        names = [res.fname(c).decode() for c in range(res.nfields)]
        return [{names[c]: (res.get_value(r, c) or b"").decode() for c in range(res.nfields)}
                for r in range(res.ntuples)]
