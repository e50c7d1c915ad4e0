"""A primary and a streaming standby that takes over: PostgreSQL's own replication, driven for the drill.

The primary is a private cluster exactly as `make up` makes it (postgres.Cluster: the binaries pgserver.py
chooses, the OS user `postgres` when we are root, scram-sha-256, the settings in data/acme.conf), plus:

- a replication role (`acme_replicator`, REPLICATION LOGIN, nothing else) whose password is generated into
  <workdir>/replication/credentials (mode 600) and set as a SCRAM verifier, so the password itself never
  reaches the server's log or a command line;
- **synchronous replication**: `synchronous_standby_names = 'FIRST 1 (acme_standby)'` and
  `synchronous_commit = on`, so a COMMIT is acknowledged only once the standby has it: every order a
  service answered 201 for survives the primary's loss.

The standby is a `pg_basebackup` of the primary (run as the OS user `postgres`, the password from a
passfile of mode 600 through PGPASSFILE, `-C -S` making its physical replication slot), started with
`standby.signal` and a `primary_conninfo` that names the same passfile. Its acme.conf is written here,
WITHOUT the primary's synchronous_standby_names (pg_basebackup copied that file): a promoted standby that
inherited it would wait for a standby of its own on every COMMIT, forever.

Services name both nodes in one libpq URL (`host=a,b`, `target_session_attrs=read-write`; see `url`), so
after `promote` they find the new primary themselves. Nothing here decides *when* to fail over: that is
an operator's (or a cluster manager's, e.g. Patroni's) call; `fail_primary` and `promote` are its two steps.
"""
from __future__ import annotations

import secrets
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from . import postgres, proc, tools
from .config import PG_DATABASE, PG_SUPERUSER, Layout
from .ui import StackError, tail

REPLICATION_ROLE = "acme_replicator"
STANDBY_NAME = "acme_standby"   # the standby's application_name: what synchronous_standby_names waits for

# Run in the tools venv (psycopg); the secrets travel in the environment, never on a command line.
_CREATE_REPLICATOR = r"""
import os, psycopg
from psycopg import sql
role, password = os.environ["ACME_REPL_ROLE"], os.environ["ACME_REPL_PASSWORD"]
with psycopg.connect(os.environ["ACME_PG_URL"], autocommit=True, connect_timeout=10) as conn:
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(verb + " ROLE {} WITH REPLICATION LOGIN PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier)))
"""

_SYNC_STATE = r"""
import os, psycopg
with psycopg.connect(os.environ["ACME_PG_URL"], autocommit=True, connect_timeout=5) as conn:
    row = conn.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                       (os.environ["ACME_STANDBY_NAME"],)).fetchone()
    print(row[0] if row else "none")
"""


class Node(postgres.Cluster):
    """One cluster of the pair: postgres.Cluster with the replication settings of its role."""

    def __init__(self, layout: Layout, port: int, extra: list[str]):
        super().__init__(layout, port, throwaway=True)
        self.extra = extra

    def _conf(self) -> str:
        # A throwaway cluster (fsync off: the drill stops the *server*, not the machine, so the OS still
        # writes what it was given), but with synchronous_commit on: that is what is being tested.
        lines = [line for line in super()._conf().splitlines() if not line.startswith("synchronous_commit")]
        return "\n".join(lines + ["synchronous_commit = on", *self.extra]) + "\n"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


class ReplicatedPair:
    """A primary on `primary_port` and its synchronous standby on `standby_port`, under `workdir`."""

    def __init__(self, root: Path, tools_dir: Path, workdir: Path, primary_port: int, standby_port: int):
        self.workdir = workdir
        self.tools_layout = Layout(root=root, run=workdir, tools=tools_dir)
        common = ["wal_level = replica", "max_wal_senders = 5", "max_replication_slots = 5", "hot_standby = on",
                  "wal_sender_timeout = 5s", "wal_receiver_timeout = 5s", "wal_retrieve_retry_interval = 500ms"]
        # Synchronous only once the standby streams (start): before, every COMMIT (CREATE DATABASE too)
        # would wait for a standby that does not exist yet.
        self.primary = Node(Layout(root=root, run=workdir / "primary", tools=tools_dir), primary_port, common)
        self._synchronous = f"synchronous_standby_names = 'FIRST 1 ({STANDBY_NAME})'"
        self.standby = Node(Layout(root=root, run=workdir / "standby", tools=tools_dir), standby_port, common)
        self.secrets = workdir / "replication"
        self.credentials = self.secrets / "credentials"
        # The passfile is read by pg_basebackup and by the standby's walreceiver, both as the OS user postgres.
        self.passfile = self.standby.base / "replication.pgpass"

    # -- what services use ---------------------------------------------------------------------
    @property
    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("127.0.0.1", self.primary.port), Endpoint("127.0.0.1", self.standby.port)]

    def url(self, database: str = PG_DATABASE, *, user: str | None = None, password: str | None = None) -> str:
        """The superuser's (or `user`'s) multi-host libpq URL: both nodes, the read-write one wins."""
        user = user or PG_SUPERUSER
        password = password if password is not None else self.primary.password()
        hosts = ",".join(f"{e.host}:{e.port}" for e in self.endpoints)
        auth = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
        return f"postgresql://{auth}@{hosts}/{database}?target_session_attrs=read-write"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Primary up, replication role, base backup, standby up, and streaming in sync."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)   # the OS user postgres traverses it to both data directories
        self.primary.ensure()
        password = self._replication_password()
        self._run_tools(_CREATE_REPLICATOR, {"ACME_PG_URL": self.primary.info().url("postgres"),
                                             "ACME_REPL_ROLE": REPLICATION_ROLE, "ACME_REPL_PASSWORD": password},
                        what="creating the replication role")
        self._base_backup(password)
        self.standby.ensure()
        if self._synchronous not in self.primary.extra:
            self.primary.extra.append(self._synchronous)
        if self.primary._write_conf():
            # synchronous_standby_names takes a reload, not a restart.
            self.primary._run("pg_ctl", "reload", "-D", self.primary.data, what="pg_ctl reload (the primary)")
        self.wait_in_sync(timeout)

    def _replication_password(self) -> str:
        if self.credentials.exists():
            return postgres.read_credentials(self.credentials)["ACME_REPL_PASSWORD"]
        password = secrets.token_urlsafe(24)
        self.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        postgres.write_secret(self.credentials, "# replication login of the standby (generated by the drill)\n"
                              f"ACME_REPL_USER={REPLICATION_ROLE}\nACME_REPL_PASSWORD={password}\n")
        return password

    def _base_backup(self, password: str) -> None:
        node = self.standby
        for d in (node.layout.run, node.base):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        # Same superuser as the primary: the standby is a physical copy of it.
        postgres.write_secret(node.credentials, self.primary.credentials.read_text())
        postgres.write_secret(self.passfile, f"127.0.0.1:{self.primary.port}:*:{REPLICATION_ROLE}:{password}\n")
        node._chown(self.passfile)
        if node.data.exists() and (node.data / "PG_VERSION").exists():
            return   # made before (a second start): the standby resumes from its slot
        node._own(node.data, 0o700)
        res = proc.run([*node.prefix, node.bindir / "pg_basebackup", "-D", node.data, "-h", "127.0.0.1",
                        "-p", str(self.primary.port), "-U", REPLICATION_ROLE, "-w", "-X", "stream",
                        "-C", "-S", STANDBY_NAME, "--checkpoint=fast"],
                       log=node.setup_log, what="pg_basebackup of the primary", cwd=Path("/"),
                       env=proc.isolated_env({"PGPASSFILE": str(self.passfile)}), timeout=300, check=False)
        if res.returncode != 0:
            raise StackError("pg_basebackup of the primary failed", node.setup_log, detail=tail(node.setup_log))
        signal = node.data / "standby.signal"
        signal.touch()
        node._chown(signal)
        conninfo = (f"host=127.0.0.1 port={self.primary.port} user={REPLICATION_ROLE} passfile={self.passfile} "
                    f"application_name={STANDBY_NAME}")
        # postgresql.auto.conf (not acme.conf, which Cluster rewrites): PostgreSQL's place for these.
        auto = node.data / "postgresql.auto.conf"
        with open(auto, "a") as fh:
            fh.write(f"primary_conninfo = '{conninfo}'\nprimary_slot_name = '{STANDBY_NAME}'\n")

    def sync_state(self) -> str:
        """The standby as the primary sees it: 'sync' when every COMMIT waits for it."""
        res = proc.capture([tools.python(self.tools_layout), "-c", _SYNC_STATE],
                           env=proc.isolated_env({"ACME_PG_URL": self.primary.info().url("postgres"),
                                                  "ACME_STANDBY_NAME": STANDBY_NAME}), timeout=30)
        return res.stdout.strip() if res.returncode == 0 else "unreachable"

    def wait_in_sync(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (state := self.sync_state()) != "sync":
            if time.monotonic() > deadline:
                raise StackError(f"the standby is not in synchronous replication after {timeout:g}s "
                                 f"(state: {state})", self.standby.log, detail=tail(self.standby.log))
            time.sleep(0.2)

    def fail_primary(self) -> None:
        """The primary dies: `pg_ctl stop -m immediate` (no checkpoint, clients cut off mid-statement)."""
        self.primary._run("pg_ctl", "stop", "-D", self.primary.data, "-m", "immediate", "-w", "-t", "30",
                          what="pg_ctl stop -m immediate (the primary)")

    def promote(self) -> None:
        """The standby becomes the primary and accepts writes (`pg_ctl promote -w` waits for that)."""
        self.standby._run("pg_ctl", "promote", "-D", self.standby.data, "-w", "-t", "60",
                          what="pg_ctl promote (the standby)")

    def stop(self) -> None:
        """Both nodes down, whatever state they are in (called on teardown, also after a failure)."""
        for node in (self.standby, self.primary):
            node.stop("immediate")   # nothing to keep: the pair is thrown away

    def _run_tools(self, script: str, env: dict[str, str], *, what: str) -> None:
        res = proc.capture([tools.python(self.tools_layout), "-c", script], env=proc.isolated_env(env), timeout=60)
        if res.returncode != 0:
            detail = (res.stderr or res.stdout).strip().splitlines()
            raise StackError(f"{what} failed: {detail[-1] if detail else f'exit {res.returncode}'}")
