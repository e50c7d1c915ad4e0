"""Shared machinery of the cross-service end-to-end tests (tests/test_e2e_*.py).

Each e2e module loads this file as a pytest plugin (`pytest_plugins = ["e2e_support"]`): fixtures
of a plugin are registered once for the whole session, so every module shares the same running
services instead of starting its own (a fixture merely imported into two modules would be two
fixtures, started twice).

What runs (real gunicorn from the venvs `make test` built from each service's requirements.lock,
real HTTP, default worker counts):
  stack        one database: storefront + backoffice + fulfillment (placed orders get fulfilled)
  quiet_stack  another database: storefront + backoffice, NO fulfillment (orders stay `placed`)
Both get a first staff account made by the real CLI (`acmectl create-staff`, password on stdin).
(test_stack.py has a module fixture also called `stack`; there, as pytest intends, it wins.)

Every e2e test also fails if a service logged an error or a traceback while it ran
(`service_logs_stay_clean`): a 500 answered to a request the test did not look at, or a crash of
the fulfillment loop, is a failure too.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import (MIGRATOR, RunningService, _service_env, database_login, drop_roles, free_port, http_status,
                      service_spec)

PASSWORD = "correct horse battery staple"
# identity's documented test switch: argon2's cheapest parameters. The concurrency test signs up 60
# customers; with production parameters that alone takes most of a minute on two cores.
# Several tests log customers in from parallel threads: a worker's one password-check slot (the default,
# sized for production argon2) would answer some of them 429 `identity.login_busy`, which a real client
# retries after Retry-After. test_load_login_flood runs the default on purpose.
SERVICE_ENV = {"ACME_IDENTITY_ARGON2_PROFILE": "fast", "ACME_IDENTITY_HASHES_PER_WORKER": "16"}
HTTP_TIMEOUT = 30
# `make test` runs this suite twice: against the separate services, and (suite tests:e2e-monolith)
# against the all-in-one deployable, where `stack` and `quiet_stack` are one gunicorn each.
SHAPE = os.environ.get("ACME_E2E_SHAPE", "services")
# Registered workers per service at the default worker counts. The fulfillment service runs ONE worker (its
# consumer loop); in the all-in-one every worker serves every service and runs a consumer loop (the
# group's offset lock makes them take turns, as separate fulfillment instances do).
WORKERS = {"storefront": 2, "backoffice": 2, "fulfillment": 2 if SHAPE == "monolith" else 1}

# Spec bounds (the only timing the suite asserts).
FULFILMENT_BOUND = 2.0   # a placed order is `fulfilled` within 2 s (fulfillment README)
PROPAGATION_BOUND = 1.0  # a revoked token / a backoffice product change is seen everywhere within 1 s

PROBLEM_JSON = "application/problem+json"


# -- processes -------------------------------------------------------------------------------------

_running: list[RunningService] = []  # every service this session started (stopped ones too), for the log check


class Launcher:
    """Starts services exactly like conftest's start_service (same env, venv, command), but with
    session lifetime, several at once, and waits for them together."""

    def __init__(self, repo_root: Path, venvs: Path, log_dir: Path):
        self.repo_root = repo_root
        self.venvs = venvs
        self.log_dir = log_dir
        self.started: list[RunningService] = []

    def venv(self, name: str) -> Path:
        venv = self.venvs / name
        assert (venv / "bin" / "python").exists(), f"no venv for service {name} under {self.venvs}"
        return venv

    def env(self, name: str, database_url: str, port: int = 0, extra: dict | None = None,
            login: str | None = None) -> dict[str, str]:
        """The service's environment; DATABASE_URL is its own login role's (or `login`'s), never the
        administrator's `database_url`."""
        url = database_login(self.venv(name), database_url, login or name)
        return _service_env(self.venv(name), name, service_spec(self.repo_root, name), url, port,
                            {**SERVICE_ENV, **(extra or {})})

    def acmectl(self, name: str, database_url: str, *args: str, stdin: str | None = None,
                timeout: float = 300, login: str | None = None) -> subprocess.CompletedProcess:
        """`acmectl ...` from that service's venv and with its login, as its operator would run it."""
        return subprocess.run([str(self.venv(name) / "bin" / "acmectl"), *args],
                              env=self.env(name, database_url, login=login),
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def migrate(self, name: str, database_url: str) -> None:
        res = self.acmectl(name, database_url, "migrate", login=MIGRATOR)
        assert res.returncode == 0, f"acmectl migrate ({name}) failed:\n{res.stdout}\n{res.stderr}"

    def spawn(self, name: str, database_url: str, env: dict | None = None) -> RunningService:
        spec = service_spec(self.repo_root, name)
        port = free_port()
        cmd = list(spec["command"])
        if (self.venv(name) / "bin" / cmd[0]).exists():
            cmd[0] = str(self.venv(name) / "bin" / cmd[0])
        log = self.log_dir / f"{name}-{port}.log"
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd, cwd=self.repo_root / "services" / name / spec.get("cwd", "."),
                                    env=self.env(name, database_url, port, env), stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        svc = RunningService(name, f"http://127.0.0.1:{port}", port, database_url, log, proc)
        self.started.append(svc)
        _running.append(svc)
        return svc

    def spawn_monolith(self, names: list[str], database_url: str,
                       extra: dict[str, str] | None = None) -> dict[str, RunningService]:
        """The all-in-one deployable (ACME_E2E_SHAPE=monolith): ONE gunicorn serving `names` by path prefix,
        built by `make test` like `make up SHAPE=monolith` builds it; each service keeps its own login.
        `extra`: the services' own variables, in the one process they share (e.g. the console's index URL)."""
        venv = Path(os.environ["ACME_TEST_MONOLITH_VENV"])
        port = free_port()
        first = names[0]
        env = self.env(first, database_url, port)
        for var in [k for k in env if k.endswith("_PORT")] + ["DATABASE_URL"]:
            env.pop(var, None)
        env.update({
            **(extra or {}),
            "ACME_SERVICE_NAME": "monolith", "MONOLITH_PORT": str(port),
            "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "ACME_ALLINONE_APPS": ",".join(
                f"{name}={service_spec(self.repo_root, name)['command'][-1]}" for name in names),
            **{f"ACME_ALLINONE_DATABASE_URL_{name.upper()}": database_login(self.venv(name), database_url, name)
               for name in names},
        })
        log = self.log_dir / f"monolith-{port}.log"
        cmd = [str(venv / "bin" / "gunicorn"), "-c", str(self.repo_root / "deploy" / "monolith" / "gunicorn.conf.py"),
               "acme_platform.allinone:create_app()"]
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd, cwd=self.repo_root, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        # One process, one RunningService per mounted service (same log): the tests address each by URL.
        services = {name: RunningService(name, f"http://127.0.0.1:{port}/{name}", port, database_url, log, proc)
                    for name in names}
        self.started.extend(services.values())
        _running.append(services[first])   # its log once, for the log check
        return services

    def wait(self, services: Iterable[RunningService], path: str = "/healthz", timeout: float = 90) -> None:
        pending = list(services)
        deadline = time.monotonic() + timeout
        while pending:
            for svc in list(pending):
                if http_status(f"{svc.url}{path}") == 200:
                    pending.remove(svc)
                elif svc.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"service {svc.name} never answered 200 on {path}:\n{svc.log_text()[-3000:]}",
                                pytrace=False)
            if pending:
                time.sleep(0.1)

    def stop(self, services: Iterable[RunningService]) -> None:
        """SIGTERM every process group first, then wait: the graceful shutdowns overlap."""
        services = [s for s in services if s.process.poll() is None]
        for svc in services:
            try:
                os.killpg(svc.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for svc in services:
            svc.stop()  # waits; SIGKILLs the group after 20 s

    def stop_all(self) -> None:
        self.stop(reversed(self.started))


@pytest.fixture(scope="session")
def launcher(repo_root, tmp_path_factory):
    venvs = os.environ.get("ACME_TEST_SERVICE_VENVS", "").strip()
    if not venvs:
        pytest.fail("ACME_TEST_SERVICE_VENVS is not set: run these tests through `make test`", pytrace=False)
    launch = Launcher(repo_root, Path(venvs), tmp_path_factory.mktemp("e2e-service-logs"))
    yield launch
    launch.stop_all()


# -- stacks ----------------------------------------------------------------------------------------

@dataclass
class Login:
    """An account logged in through a service's /v1/tokens: its id, email and bearer token."""
    id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Staff(Login):
    pass


@dataclass
class Stack:
    database_url: str
    storefront: RunningService
    backoffice: RunningService
    fulfillment: RunningService | None
    staff: Staff

    @property
    def sf(self) -> str:
        return self.storefront.url

    @property
    def bo(self) -> str:
        return self.backoffice.url


def create_staff_with_cli(launcher: Launcher, database_url: str, email: str) -> subprocess.CompletedProcess:
    """The documented way to make the first staff account: the password on stdin, never in argv."""
    return launcher.acmectl("backoffice", database_url, "create-staff", "--email", email, "--name", "E2E Ops",
                            stdin=PASSWORD + "\n")


def staff_login(backoffice_url: str, email: str, password: str = PASSWORD) -> str:
    r = requests.post(f"{backoffice_url}/v1/tokens", json={"email": email, "password": password},
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def build_stack(launcher: Launcher, database_url: str, *, fulfillment: bool,
                env: dict[str, dict[str, str]] | None = None) -> Stack:
    """Services on an already migrated database, and a first staff account made with the CLI.
    `env`: extra environment per service name."""
    email = f"ops-{uuid.uuid4().hex[:10]}@example.com"
    with ThreadPoolExecutor(1) as pool:
        # The CLI (seconds of imports) runs while the services boot.
        cli = pool.submit(create_staff_with_cli, launcher, database_url, email)
        names = ["storefront", "backoffice"] + (["fulfillment"] if fulfillment else [])
        if SHAPE == "monolith":
            services = launcher.spawn_monolith(
                names, database_url, {k: v for name in names for k, v in (env or {}).get(name, {}).items()})
        else:
            services = {name: launcher.spawn(name, database_url, (env or {}).get(name)) for name in names}
        res = cli.result()
    assert res.returncode == 0, f"acmectl create-staff failed:\n{res.stdout}\n{res.stderr}"
    staff_id = res.stdout.strip().splitlines()[-1]
    uuid.UUID(staff_id)  # the CLI prints the new account id
    assert PASSWORD not in res.stdout + res.stderr
    launcher.wait(services.values(), "/readyz")
    staff = Staff(staff_id, email, staff_login(services["backoffice"].url, email))
    return Stack(database_url, services["storefront"], services["backoffice"], services.get("fulfillment"), staff)


@dataclass
class Databases:
    main: str
    quiet: str


@pytest.fixture(scope="session")
def databases(launcher, make_database, admin_database_url):
    """Two migrated databases. `acmectl migrate` runs once; the second is a copy made with CREATE
    DATABASE ... TEMPLATE (seconds cheaper than migrating again), taken before anything connects."""
    import psycopg

    main = make_database()
    launcher.migrate("backoffice", main)  # the backoffice venv has every domain
    name = f"e2e_quiet_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        template = main.rsplit("/", 1)[1].split("?")[0]
        # Behind PgBouncer (tests:e2e-pgbouncer) the pooler keeps the server connection it opened while
        # checking the migrator's login; a template must have no other session.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template,))
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    base, _, query = main.partition("?")
    yield Databases(main, f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else ""))
    launcher.stop_all()  # before the drop: nothing may still be connected
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        drop_roles(conn, name)


@pytest.fixture(scope="session")
def stack(launcher, databases) -> Stack:
    """storefront + backoffice + fulfillment on one migrated database."""
    return build_stack(launcher, databases.main, fulfillment=True)


@pytest.fixture(scope="session")
def quiet_stack(launcher, databases) -> Stack:
    """storefront + backoffice without the fulfillment worker: orders stay `placed` until cancelled."""
    return build_stack(launcher, databases.quiet, fulfillment=False)


# -- the log check ---------------------------------------------------------------------------------

_LOG_ALARMS = ('"level": "ERROR"', '"level": "CRITICAL"', "[ERROR]", "[CRITICAL]", "WORKER TIMEOUT")
def log_alarms(text: str, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """Error lines and raw tracebacks (by their exception line) in a service's log output."""
    alarms, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("Traceback (most recent call last)"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                j += 1
            exception = lines[j] if j < len(lines) else "(truncated)"
            if not ignore or not exception.startswith(ignore):
                alarms.append("\n".join(lines[i:j + 1])[-1500:])
            i = j + 1
            continue
        if any(alarm in line for alarm in _LOG_ALARMS):
            alarms.append(line[:1500])
        i += 1
    return alarms


def read_from(path: Path, offset: int) -> str:
    with open(path, errors="replace") as fh:
        fh.seek(offset)
        return fh.read()


def log_offsets() -> dict[Path, int]:
    return {svc.log: svc.log.stat().st_size for svc in _running if svc.log.exists()}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item._e2e_call_failed = report.failed
    return report


@pytest.fixture
def expected_log_errors() -> list[str]:
    """A test appends substrings of error lines it provokes on purpose; the log check skips those."""
    return []


@pytest.fixture(autouse=True)
def service_logs_stay_clean(request, expected_log_errors):
    if not request.node.module.__name__.startswith("test_e2e"):
        yield
        return
    offsets = log_offsets()
    yield
    if getattr(request.node, "_e2e_call_failed", False):
        return  # the test already failed; its own message says more
    alarms = [f"{svc.name}: {alarm}" for svc in list(_running) if svc.log.exists()
              for alarm in log_alarms(read_from(svc.log, offsets.get(svc.log, 0)))
              if not any(expected in alarm for expected in expected_log_errors)]
    assert not alarms, "services logged errors during this test:\n" + "\n".join(alarms[:10])


# -- HTTP helpers ----------------------------------------------------------------------------------

def unique_email(tag: str = "c") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def unique_sku(tag: str = "E2E") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}".upper()


def call(method: str, url: str, **kwargs) -> requests.Response:
    """One request on a NEW connection: successive calls are spread over the gunicorn workers
    (a keep-alive session would pin them all to one)."""
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, **kwargs)


class Customer(Login):
    pass


def sign_up(stack: Stack, *, name: str = "E2E Customer") -> Customer:
    email = unique_email()
    r = call("POST", f"{stack.sf}/v1/customers", json={"email": email, "password": PASSWORD, "name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == email and body["name"] == name
    return Customer(body["id"], email, log_in(stack, email))


def log_in(stack: Stack, email: str, password: str = PASSWORD) -> str:
    r = call("POST", f"{stack.sf}/v1/tokens", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def credit(stack: Stack, customer_id: str, amount_cents: int) -> dict:
    r = call("POST", f"{stack.bo}/v1/customers/{customer_id}/credits", json={"amount_cents": amount_cents},
             headers=stack.staff.auth)
    assert r.status_code == 200, r.text
    return r.json()


def funded_customer(stack: Stack, amount_cents: int) -> Customer:
    customer = sign_up(stack)
    credit(stack, customer.id, amount_cents)
    return customer


def create_product(stack: Stack, *, price_cents: int, stock: int, sku: str | None = None,
                   name: str = "E2E product", description: str = "") -> dict:
    sku = sku or unique_sku()
    r = call("POST", f"{stack.bo}/v1/products", headers=stack.staff.auth,
             json={"sku": sku, "name": name, "description": description, "price_cents": price_cents,
                   "currency": "USD", "stock": stock})
    assert r.status_code == 201, r.text
    return r.json()


def balance(stack: Stack, customer: Customer) -> int:
    r = call("GET", f"{stack.sf}/v1/wallet", headers=customer.auth)
    assert r.status_code == 200, r.text
    assert r.json()["currency"] == "USD"
    return r.json()["balance_cents"]


def staff_product(stack: Stack, sku: str) -> dict:
    r = call("GET", f"{stack.bo}/v1/products/{sku}", headers=stack.staff.auth)
    assert r.status_code == 200, r.text
    return r.json()


def place_order(stack: Stack, customer: Customer, items: list[tuple[str, int]], *,
                key: str | None = None) -> requests.Response:
    headers = {**customer.auth, **({"Idempotency-Key": key} if key is not None else {})}
    body = {"items": [{"sku": sku, "quantity": qty} for sku, qty in items]}
    return call("POST", f"{stack.sf}/v1/orders", json=body, headers=headers)


def ledger_check(stack: Stack) -> dict:
    r = call("GET", f"{stack.bo}/v1/ledger/check", headers=stack.staff.auth)
    assert r.status_code == 200, r.text
    return r.json()


def assert_problem(r: requests.Response, status: int, *, code: str | None = None, field: str | None = None,
                   sku: str | None = None) -> dict:
    """An RFC 9457 problem with this status (and code / field / sku when given)."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("Content-Type", "").split(";")[0] == PROBLEM_JSON, r.headers.get("Content-Type")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"], body
    if code is not None:
        assert body.get("code") == code, body
    if field is not None:
        assert body.get("field") == field, body
    if sku is not None:
        assert body.get("sku") == sku, body
    if status == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
    return body


def poll(check: Callable[[], Any], *, within: float, interval: float = 0.02, what: str = "condition") -> float:
    """Call `check` until it returns a truthy value; the seconds it took. Fails once `within` has
    passed (the last result is in the message). Callers start their clock when the change was
    acknowledged, so the bound measured is the one the spec states."""
    started = time.monotonic()
    last: Any = None
    while True:
        last = check()
        elapsed = time.monotonic() - started
        if last and not isinstance(last, _Miss):
            return elapsed
        if elapsed > within:
            pytest.fail(f"{what} not reached within {within}s (last: {last!r})", pytrace=False)
        time.sleep(interval)


class _Miss:
    """A falsy result that still explains itself in poll's failure message."""

    def __init__(self, detail: Any):
        self.detail = detail

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return repr(self.detail)


def miss(detail: Any) -> _Miss:
    return _Miss(detail)



def in_parallel(fn: Callable, args: Iterable, workers: int = 8) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, args))


def at_once(fns: list[Callable[[], Any]]) -> list:
    """Run every fn in its own thread, released together by a barrier; results in order."""
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except BaseException as exc:  # surfaced below, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return results
