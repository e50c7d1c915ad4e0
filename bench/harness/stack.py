"""Find what `make up` runs (PostgreSQL, the private index, the storefront venv) and build the H venv.

Everything can be overridden from the environment (see README "Environment"), which is how the
bench is developed against a dev PostgreSQL and editable venvs before `make up` exists.
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

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
RUN = ROOT / ".run"
STOREFRONT = ROOT / "services" / "storefront"
_STAMP = ".bench-fingerprint"


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
    """The environment a service gets under `make up`: no PIP_*/UV_*, no foreign venv or PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "BENCH_")) and k not in (
               "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DATABASE_URL", "BENCH_IN_HARNESS")}
    env.update(extra or {})
    return env


def read_credentials(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def with_database(url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def masked(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":****@", 1)))


def admin_url() -> str:
    for var in ("BENCH_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    creds = RUN / "postgres" / "credentials"
    if not creds.exists():
        raise BenchError("no PostgreSQL: run `make up` first (or set DATABASE_URL / BENCH_DATABASE_URL)")
    c = read_credentials(creds)
    port = os.environ.get("ACME_PG_PORT", "").strip() or "5544"
    user = urllib.parse.quote(c["ACME_PG_USER"], safe="")
    password = urllib.parse.quote(c["ACME_PG_PASSWORD"], safe="")
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/acme"


def index_url() -> str:
    creds = RUN / "index" / "credentials"
    if not creds.exists():
        raise BenchError("no private index credentials (.run/index/credentials): run `make up` first")
    c = read_credentials(creds)
    port = os.environ.get("ACME_INDEX_PORT", "").strip() or "8090"
    user = urllib.parse.quote(c["ACME_INDEX_USER"], safe="")
    password = urllib.parse.quote(c["ACME_INDEX_PASSWORD"], safe="")
    return f"http://{user}:{password}@127.0.0.1:{port}/simple/"


def find_uv() -> str:
    for candidate in (os.environ.get("BENCH_UV", ""), str(RUN / "tools" / "bin" / "uv")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError("uv not found: run `make up` (it creates .run/tools/bin/uv) or set BENCH_UV")


def storefront_venv() -> Path:
    venv = Path(os.environ.get("BENCH_STOREFRONT_VENV", "") or RUN / "venvs" / "storefront")
    if not (venv / "bin" / "gunicorn").exists():
        raise BenchError(f"{venv} has no gunicorn: run `make up` first (or set BENCH_STOREFRONT_VENV)")
    return venv


def _uv(uv: str, *args: str, log: Path, index: str = "") -> None:
    # The index URL carries the deploy login: uv reads it from UV_DEFAULT_INDEX, never from argv (ps).
    env = isolated_env({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1",
                        **({"UV_DEFAULT_INDEX": index} if index else {})})
    with open(log, "a") as fh:
        fh.write("$ uv " + " ".join(args) + "\n")
        fh.flush()
        done = subprocess.run([uv, *args], stdout=fh, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise BenchError(f"uv {args[0]} {args[1] if len(args) > 1 else ''} failed; see {log}")


def _storefront_pins() -> list[str]:
    data = tomllib.loads((STOREFRONT / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


def http_venv(uv: str, log: Path) -> Path:
    """H's services run the same acme-* wheels as the storefront: its hash-locked requirements from the
    private index (only that index: --no-config, no UV_*/PIP_*), plus requests for the service calls."""
    override = os.environ.get("BENCH_HTTP_VENV", "").strip()
    if override:
        return Path(override)
    venv = RUN / "venvs" / "_bench_http"
    python = venv / "bin" / "python"
    lock = STOREFRONT / "requirements.lock"
    lock_text = lock.read_text() if lock.exists() else ""
    locked = any(line.strip() and not line.lstrip().startswith(("#", "--")) for line in lock_text.splitlines())
    want = hashlib.sha256("\n".join([lock_text, *_storefront_pins(), "requests", sys.version]).encode()).hexdigest()
    stamp = venv / _STAMP
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return venv
    url = index_url()
    port = int(os.environ.get("ACME_INDEX_PORT", "").strip() or "8090")
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            raise BenchError(f"the H venv needs the private index, which is not running on port {port}: run `make up`")
    print(f"bench: building the H venv {venv.relative_to(ROOT)} from the private index", flush=True)
    _uv(uv, "venv", "--no-config", "--clear", "--quiet", "--python", sys.executable, str(venv), log=log)
    common = ["--no-config", "--python", str(python)]
    if locked:
        acme = sorted({line.split("==")[0] for line in lock_text.splitlines() if line.startswith("acme-")})
        refresh = [a for name in acme for a in ("--refresh-package", name)]
        _uv(uv, "pip", "sync", *common, "--require-hashes", *refresh, str(lock), log=log, index=url)
        _uv(uv, "pip", "install", *common, "requests", log=log, index=url)
    else:
        # No lock yet (a fresh tree before `make relock`): the storefront's exact pins.
        _uv(uv, "pip", "install", *common, *_storefront_pins(), "requests", log=log, index=url)
    stamp.write_text(want + "\n")
    return venv


def monolith_venv() -> Path | None:
    """The venv of `make up SHAPE=monolith` (or BENCH_MONOLITH_VENV), if there is one."""
    venv = Path(os.environ.get("BENCH_MONOLITH_VENV", "") or RUN / "venvs" / "monolith")
    return venv if (venv / "bin" / "gunicorn").exists() else None


def discover(log: Path) -> Stack:
    uv = find_uv()
    return Stack(admin_url=admin_url(), bench_db=os.environ.get("BENCH_DB_NAME", "bench"),
                 storefront_venv=storefront_venv(), http_venv=http_venv(uv, log), uv=uv,
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
