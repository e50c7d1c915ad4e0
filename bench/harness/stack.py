"""Find what `make up` runs (PostgreSQL, the private index, the storefront venv) and build the H venv.

Credentials, URLs, the isolated environment and the uv installs are deploy/acme_stack's own (the
orchestrator is stdlib-only, so the harness imports it directly): the bench reads the stack exactly
as `make up` wrote it and installs exactly as `make up` installs. Everything can be overridden from
the environment (see README "Environment"), which is how the bench is developed against a dev
PostgreSQL and editable venvs before `make up` exists.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from acme_stack import config, index, postgres, proc, tools, venvs
from acme_stack.ui import StackError

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
LAYOUT = config.Layout.for_repo(ROOT)
RUN = LAYOUT.run
STOREFRONT = ROOT / "services" / "storefront"
_STAMP = ".bench-fingerprint"

read_credentials = postgres.read_credentials
masked = postgres.masked


class BenchError(Exception):
    """An expected failure: printed as one line, no traceback."""


@dataclass(frozen=True)
class Stack:
    admin_url: str          # a database of the cluster to connect to for CREATE DATABASE
    bench_db: str           # the dedicated database the bench drops, migrates and seeds
    storefront_venv: Path   # L: the venv `make up` built for the storefront
    http_venv: Path         # H: a venv with the same pinned libraries from the private index
    uv: str
    # M: the all-in-one deployable's venv (`make up SHAPE=monolith` builds it); None: M is not measured
    monolith_venv: Path | None = None

    @property
    def bench_url(self) -> str:
        """The administrator's URL of the bench database (creating it, reading server settings)."""
        return with_database(self.admin_url, self.bench_db)

    @property
    def service_url(self) -> str:
        """The storefront's own login on the bench database: what L, H and F connect with, as deployed."""
        return with_database(login_url(RUN / "bench" / "roles" / "storefront"), self.bench_db)


def login_url(path: Path) -> str:
    """DATABASE_URL of a login file written by `acmectl roles apply --secrets`."""
    return read_credentials(path)["DATABASE_URL"]


def isolated_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a service gets under `make up` (no PIP_*/UV_*, no foreign venv or PYTHONPATH),
    without the bench's own settings and DATABASE_URL."""
    env = proc.isolated_env(drop=("DATABASE_URL", "BENCH_IN_HARNESS"))
    env = {k: v for k, v in env.items() if not k.startswith("BENCH_")}
    env.update(extra or {})
    return env


def with_database(url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def _port(name: str, default: int) -> int:
    try:
        return config.env_port(name, default)
    except StackError as e:
        raise BenchError(e.message) from None


def admin_url() -> str:
    for var in ("BENCH_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    creds = LAYOUT.postgres / "credentials"
    if not creds.exists():
        raise BenchError("no PostgreSQL: run `make up` first (or set DATABASE_URL / BENCH_DATABASE_URL)")
    c = read_credentials(creds)
    return postgres.Postgres(host=config.BIND_HOST, port=_port("ACME_PG_PORT", config.DEFAULT_PG_PORT),
                             user=c["ACME_PG_USER"], password=c["ACME_PG_PASSWORD"], database=postgres.PG_DATABASE).url()


def private_index() -> index.Index:
    if not (LAYOUT.index / "credentials").exists():
        raise BenchError("no private index credentials (.run/index/credentials): run `make up` first")
    return index.load(LAYOUT, _port("ACME_INDEX_PORT", config.DEFAULT_INDEX_PORT))


def find_uv() -> str:
    for candidate in (os.environ.get("BENCH_UV", ""), str(tools.bin(LAYOUT, "uv"))):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError("uv not found: run `make up` (it creates .run/tools/bin/uv) or set BENCH_UV")


def storefront_venv() -> Path:
    venv = Path(os.environ.get("BENCH_STOREFRONT_VENV", "") or LAYOUT.venvs / "storefront")
    if not (venv / "bin" / "gunicorn").exists():
        raise BenchError(f"{venv} has no gunicorn: run `make up` first (or set BENCH_STOREFRONT_VENV)")
    return venv


def _storefront_pins() -> list[str]:
    data = tomllib.loads((STOREFRONT / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


def http_venv(log: Path) -> Path:
    """H's services run the same acme-* wheels as the storefront: its hash-locked requirements from the
    private index (only that index, as venvs.py installs every service venv), plus requests for the
    service calls."""
    override = os.environ.get("BENCH_HTTP_VENV", "").strip()
    if override:
        return Path(override)
    venv = LAYOUT.venvs / "_bench_http"
    lock = STOREFRONT / "requirements.lock"
    lock_text = lock.read_text() if lock.exists() else ""
    locked = any(line.strip() and not line.lstrip().startswith(("#", "--")) for line in lock_text.splitlines())
    want = hashlib.sha256("\n".join([lock_text, *_storefront_pins(), "requests", sys.version]).encode()).hexdigest()
    stamp = venv / _STAMP
    if venvs.py(venv).exists() and stamp.exists() and stamp.read_text().strip() == want:
        return venv
    idx = private_index()
    if not proc.port_open(idx.port):
        raise BenchError(f"the H venv needs the private index, which is not running on port {idx.port}: run `make up`")
    print(f"bench: building the H venv {venv.relative_to(ROOT)} from the private index", flush=True)
    if locked:
        # The storefront's lock exactly as make up installs it (venvs.sync_lock_step), without the service.
        steps = [venvs.sync_lock_step(venv, lock, f"installing the storefront's lock into {venv.name}"),
                 (venvs.install_args(venv, ["requests"]), "installing requests")]
    else:
        # No lock yet (a fresh tree before `make relock`): the storefront's exact pins.
        steps = [(venvs.install_args(venv, [*_storefront_pins(), "requests"]), "installing the storefront's pins")]
    try:
        venvs.create(LAYOUT, venv, log)
        for args, what in steps:
            venvs.uv(LAYOUT, *args, log=log, what=what, idx=idx)
    except StackError as e:
        raise BenchError(f"{e.message}; see {log}") from None
    stamp.write_text(want + "\n")
    return venv


def monolith_venv() -> Path | None:
    """The venv of `make up SHAPE=monolith` (or BENCH_MONOLITH_VENV), if there is one."""
    venv = Path(os.environ.get("BENCH_MONOLITH_VENV", "") or RUN / "venvs" / "monolith")
    return venv if (venv / "bin" / "gunicorn").exists() else None


def discover(log: Path) -> Stack:
    uv = find_uv()
    return Stack(admin_url=admin_url(), bench_db=os.environ.get("BENCH_DB_NAME", "bench"),
                 storefront_venv=storefront_venv(), http_venv=http_venv(log), uv=uv,
                 monolith_venv=monolith_venv())


def installed_versions(venv: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json; names = ['acme-platform', 'acme-identity', 'acme-catalog', "
            "'acme-billing', 'acme-orders', 'storefront-service', 'flask', 'werkzeug', 'gunicorn', 'gevent', "
            "'sqlalchemy', 'psycopg', 'psycopg-binary', 'pydantic', 'spectree', 'requests', 'urllib3']\n"
            "out = {}\nfor n in names:\n    try: out[n] = m.version(n)\n    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    import json

    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          env=isolated_env())
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-300:]}
