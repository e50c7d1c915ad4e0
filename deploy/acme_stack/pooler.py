"""PgBouncer (the Debian package) in transaction mode between the services and PostgreSQL.

Used by `make up POOLER=pgbouncer` and by the test suite `tests:e2e-pgbouncer` (through
tests/pooler_support.py, which imports this module by path: it is stdlib-only).

- One pool per service role: PgBouncer keys pools by (database, user) and every service logs in as its own
  role, so each service gets its own pool; `[users]` caps each role's server connections
  (`max_user_connections`) at what the connection budget gives it.
- Authentication: an auth_file generated from the role logins (mode 600, owned by the user PgBouncer runs
  as), read again on SIGHUP when logins are added. PgBouncer authenticates clients with SCRAM and logs in
  to PostgreSQL with the same login. No secret is on a command line or in a log.
- `options` is an ignored startup parameter: PgBouncer cannot hand a client's startup options to the server
  connection it picks. The platform, seeing DATABASE_DIRECT_URL, sends its timeouts as SET LOCAL per
  transaction instead (acme_platform.db.create_engine).
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from . import debian
from .ui import StackError

NAME = "pgbouncer"
DEBIAN_PACKAGE = "pgbouncer"
# Not a privilege: PgBouncer refuses to run as root, and the Debian package runs it as `postgres`.
RUN_AS = "postgres"


class PoolerError(Exception):
    pass


def binary(install: bool = True) -> Path:
    """The machine's pgbouncer; as root, installs the Debian package when it is missing (the README says so)."""
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None)
    if found:
        return Path(found)
    if not install:
        raise PoolerError("pgbouncer is not installed: apt-get install pgbouncer (POOLER=pgbouncer needs it)")
    try:
        debian.install(DEBIAN_PACKAGE, recommends=False)
    except StackError as e:
        raise PoolerError(f"{e.message} (POOLER=pgbouncer needs it)") from None
    # The package enables a system-wide pgbouncer on 127.0.0.1:6432 with its own config; ours is separate.
    return binary(install=False)


@dataclass(frozen=True)
class Login:
    user: str
    password: str


def login_of(url: str) -> Login:
    parts = urllib.parse.urlsplit(url)
    if not parts.username or parts.password is None:
        raise PoolerError("a pooled login needs a user and a password in its URL")
    return Login(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password))


def pooled_url(url: str, host: str, port: int) -> str:
    """The same login and database, through the pooler at host:port."""
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rsplit("@", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}@{host}:{port}"))


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@dataclass
class Config:
    listen_port: int
    server_host: str
    server_port: int
    workdir: Path
    listen_host: str = "127.0.0.1"
    # role -> max server connections of that role through the pooler (its share of the budget)
    role_limits: dict[str, int] = field(default_factory=dict)
    # Server connections per (database, role) pool: what each service's budget counts for its requests
    # (ACME_DB_POOLER_CONNECTIONS); also every role's max_user_connections.
    default_pool_size: int = 10
    # A login for PgBouncer's console only (SHOW POOLS / SHOW STATS; no PostgreSQL role): how tests and
    # operators see which pools exist and that requests went through them.
    stats_user: str = "pgbouncer_stats"
    max_client_conn: int = 2000

    @property
    def ini(self) -> Path:
        return self.workdir / "pgbouncer.ini"

    @property
    def auth_file(self) -> Path:
        return self.workdir / "userlist.txt"

    @property
    def pidfile(self) -> Path:
        return self.workdir / "pgbouncer.pid"

    @property
    def logfile(self) -> Path:
        return self.workdir / "pgbouncer.log"

    def render(self) -> str:
        users = "".join(f"{role} = max_user_connections={limit}\n" for role, limit in sorted(self.role_limits.items()))
        users = users or "; every role: a pool of default_pool_size server connections per database\n"
        return (
            "; written by deploy/acme_stack/pooler.py; rewritten on every start\n"
            "[databases]\n"
            # Any database, same name on the server, with the client's own login: one pool per (db, role).
            f"* = host={self.server_host} port={self.server_port}\n\n"
            "[pgbouncer]\n"
            f"listen_addr = {self.listen_host}\n"
            f"listen_port = {self.listen_port}\n"
            "unix_socket_dir =\n"
            "pool_mode = transaction\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {self.auth_file}\n"
            f"pidfile = {self.pidfile}\n"
            f"logfile = {self.logfile}\n"
            f"max_client_conn = {self.max_client_conn}\n"
            f"default_pool_size = {self.default_pool_size}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            # A server connection is handed back only at transaction end; nothing to reset between clients.
            "server_reset_query =\n"
            "server_check_delay = 10\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            "log_pooler_errors = 1\n"
            "admin_users =\n"
            f"stats_users = {self.stats_user}\n\n"
            "[users]\n" + users
        )


def _stats_password(config: Config) -> str:
    """Kept in the work dir (mode 600) so a restarted stack keeps the same console login."""
    path = config.workdir / "stats-password"
    try:
        return path.read_text().strip()
    except OSError:
        config.workdir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        _write_private(path, password)
        return password


def _owner() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(RUN_AS)
    return pw.pw_uid, pw.pw_gid


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    owner = _owner()
    if owner:
        os.chown(path, *owner)


class Bouncer:
    """One PgBouncer process for one stack (or one test session)."""

    def __init__(self, config: Config):
        self.config = config
        self.logins: dict[str, str] = {}
        self.stats_password = _stats_password(config)

    def stats_url(self) -> str:
        q = urllib.parse.quote
        return (f"postgresql://{q(self.config.stats_user, safe='')}:{q(self.stats_password, safe='')}@"
                f"{self.config.listen_host}:{self.config.listen_port}/pgbouncer")

    def write(self) -> None:
        self.config.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.config.workdir, 0o700)
        owner = _owner()
        if owner:
            os.chown(self.config.workdir, *owner)
        logins = {**self.logins, self.config.stats_user: self.stats_password}
        lines = "".join(f"{_quote(u)} {_quote(p)}\n" for u, p in sorted(logins.items()))
        _write_private(self.config.auth_file, lines)
        _write_private(self.config.ini, self.config.render())

    def add_logins(self, logins: list[Login]) -> bool:
        """Add logins to the auth file; True if something changed (then reload() a running bouncer)."""
        changed = False
        for login in logins:
            if self.logins.get(login.user) != login.password:
                self.logins[login.user] = login.password
                changed = True
        if changed:
            self.write()
        return changed

    def command(self) -> list[str]:
        cmd = [str(binary())]
        if os.geteuid() == 0:
            cmd += ["-u", RUN_AS]
        return [*cmd, str(self.config.ini)]

    def pid(self) -> int | None:
        try:
            return int(self.config.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def reload(self) -> None:
        """SIGHUP: PgBouncer reads its config and auth file again (new logins, new limits)."""
        pid = self.pid()
        if pid is None:
            raise PoolerError("pgbouncer is not running (no pid file)")
        os.kill(pid, signal.SIGHUP)

    def listening(self) -> bool:
        try:
            with socket.create_connection((self.config.listen_host, self.config.listen_port), timeout=1):
                return True
        except OSError:
            return False

    def wait_listening(self, process: subprocess.Popen | None = None, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.listening():
            if process is not None and process.poll() is not None:
                raise PoolerError(f"pgbouncer exited with {process.returncode}: " + self.log_tail())
            if time.monotonic() > deadline:
                raise PoolerError(f"pgbouncer did not listen on port {self.config.listen_port} within {timeout:.0f}s: "
                                  + self.log_tail())
            time.sleep(0.1)

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.config.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
