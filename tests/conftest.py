"""Shared fixtures for cross-service tests (run by `make test`, which sets the ACME_TEST_* variables).

What `make test` provides (see deploy/README.md):
  ACME_TEST_DATABASE_URL    superuser URL of a throwaway cluster (its `postgres` database)
  ACME_TEST_INDEX_URL       the throwaway index's simple URL, the read-only deploy login included
  ACME_TEST_INDEX_UPLOAD_URL / ACME_TEST_INDEX_USER / ACME_TEST_INDEX_PASSWORD   (the deploy login again)
  ACME_TEST_INDEX_TEAMS     folder of per-team publish logins: upload with the owning team's
  ACME_TEST_TOOLS_BIN       bin/ of the tools venv (uv, twine, pypi-server, python -m build)
  ACME_TEST_SERVICE_VENVS   folder with one venv per service, installed from its requirements.lock
  ACME_REPO_ROOT            the repo under test

Fixtures:
  repo_root, test_env, admin_database_url, make_database (-> new empty database URL per call),
  service_names, start_service(name, database_url, *, migrate=True, env=None) -> RunningService
  (the service's real gunicorn command from [tool.acme.service], on a free port, stopped at teardown).
  `database_url` is always the administrator's URL of a test database; the service itself connects with
  its own login role (database_login), and migrations run as the migrator, as under `make up`.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import pooler_support

REQUIRED = ("ACME_TEST_DATABASE_URL", "ACME_TEST_INDEX_URL", "ACME_TEST_TOOLS_BIN", "ACME_TEST_SERVICE_VENVS")


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `make test`", pytrace=False)
    return value


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(os.environ.get("ACME_REPO_ROOT") or Path(__file__).resolve().parents[1]).resolve()


@pytest.fixture(scope="session")
def test_env() -> dict[str, str]:
    return {name: _env(name) for name in REQUIRED}


@pytest.fixture(scope="session")
def admin_database_url() -> str:
    return _env("ACME_TEST_DATABASE_URL")


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def make_database(admin_database_url):
    """Factory: a new empty database per call (dropped at session end); returns its URL."""
    import psycopg

    created: list[str] = []

    def make() -> str:
        name = f"e2e_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_database(admin_database_url, name)

    yield make
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            drop_roles(conn, name)


def drop_roles(conn, database: str) -> None:
    """Roles are cluster-wide: those `acmectl roles apply` made for a dropped database go with it."""
    for (role,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                                (database + "_",)).fetchall():
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


# -- database logins: each service connects with its own role, as under `make up` ----------------

_logins: dict[tuple[str, str], str] = {}
_logins_lock = threading.Lock()
MIGRATOR = "migrator"


def database_login(venv: Path, admin_url: str, logical: str) -> str:
    """DATABASE_URL of the login `logical` (a service name, or "migrator") on the database of `admin_url`.

    The first time, `acmectl roles apply` runs from `venv` (the service's own venv: it holds the service's
    declaration and its domains' privileges) as the administrator, exactly as `make up` does."""
    key = (admin_url, logical)
    with _logins_lock:
        if key not in _logins:
            database = admin_url.rsplit("/", 1)[1].split("?")[0]
            secrets = Path(tempfile.gettempdir()) / "acme-e2e-logins" / database
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PIP_", "UV_")) and k not in ("PYTHONPATH", "DATABASE_URL")}
            env.update(ACME_ADMIN_DATABASE_URL=admin_url, VIRTUAL_ENV=str(venv))
            res = subprocess.run([str(venv / "bin" / "acmectl"), "roles", "apply", "--secrets", str(secrets)],
                                 env=env, capture_output=True, text=True, timeout=300)
            assert res.returncode == 0, f"acmectl roles apply failed:\n{res.stdout}\n{res.stderr}"
            for path in secrets.iterdir():
                for line in path.read_text().splitlines():
                    if line.startswith("DATABASE_URL="):
                        _logins[(admin_url, path.name)] = line.split("=", 1)[1]
        assert key in _logins, f"acmectl roles apply in {venv} wrote no login for {logical}"
        return _logins[key]


def service_spec(repo_root: Path, name: str) -> dict:
    data = tomllib.loads((repo_root / "services" / name / "pyproject.toml").read_text())
    return data.get("tool", {}).get("acme", {}).get("service", {})


@pytest.fixture(scope="session")
def service_names(repo_root) -> list[str]:
    return sorted(p.parent.name for p in (repo_root / "services").glob("*/pyproject.toml"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


def stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM to the process group of a service started in its own session (gunicorn's graceful stop),
    SIGKILL after `grace` seconds."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass


@dataclass
class RunningService:
    name: str
    url: str
    port: int
    database_url: str
    log: Path
    process: subprocess.Popen = field(repr=False)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        stop_group(self.process)


def _service_env(venv: Path, name: str, spec: dict, database_url: str, port: int, extra: dict | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_")) and k != "PYTHONPATH"}
    env.pop("DATABASE_DIRECT_URL", None)
    env.update({
        # The login's URL; in the suite tests:e2e-pgbouncer the same login through PgBouncer, plus the
        # direct URL for what needs a session (tests/pooler_support.py).
        **pooler_support.route(database_url),
        "ACME_SERVICE_NAME": name,
        spec["port_env"]: str(port),
        "ACME_BIND_HOST": "127.0.0.1",
        "ACME_BIND": f"127.0.0.1:{port}",
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    env.update(extra or {})
    return env


@pytest.fixture
def start_service(repo_root, tmp_path):
    """Factory: run a service exactly as `make up` would (its venv, its command), on a free port."""
    started: list[RunningService] = []
    venvs = Path(_env("ACME_TEST_SERVICE_VENVS"))

    def start(name: str, database_url: str, *, migrate: bool = True, env: dict | None = None,
              timeout: float = 60) -> RunningService:
        spec = service_spec(repo_root, name)
        venv = venvs / name
        assert (venv / "bin" / "python").exists(), f"no venv for service {name} under {venvs}"
        port = free_port()
        login = database_login(venv, database_url, name)
        run_env = _service_env(venv, name, spec, login, port, env)
        log = tmp_path / f"{name}-{port}.log"
        if migrate:
            migrator = {**run_env, **pooler_support.route(database_login(venv, database_url, MIGRATOR))}
            res = subprocess.run([str(venv / "bin" / "acmectl"), "migrate"], env=migrator, capture_output=True,
                                 text=True, timeout=300)
            assert res.returncode == 0, f"acmectl migrate for {name} failed:\n{res.stdout}\n{res.stderr}"
        cmd = list(spec["command"])
        if (venv / "bin" / cmd[0]).exists():
            cmd[0] = str(venv / "bin" / cmd[0])
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd, cwd=repo_root / "services" / name / spec.get("cwd", "."), env=run_env,
                                    stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        svc = RunningService(name, f"http://127.0.0.1:{port}", port, database_url, log, proc)
        started.append(svc)
        deadline = time.monotonic() + timeout
        while http_status(f"{svc.url}{spec.get('health_path', '/healthz')}") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"service {name} did not become healthy:\n{svc.log_text()[-3000:]}", pytrace=False)
            time.sleep(0.2)
        return svc

    yield start
    for svc in reversed(started):
        svc.stop()


def pytest_report_header(config):
    missing = [n for n in REQUIRED if not os.environ.get(n)]
    if missing:
        return f"acme: {', '.join(missing)} not set (run through `make test`)"
    return f"acme: python {sys.version.split()[0]}, service venvs in {os.environ['ACME_TEST_SERVICE_VENVS']}"
