"""The version-skew drill: one library released three times, real wheels on the throwaway index, real
gunicorn services in their own venvs, one database.

acme-skewdemo (tests/skewdrill/skewdemo/v*) renames items.name to items.title the expand/contract way:
  1.0.0  skd0001 expand    items(id, name)
  1.1.0  skd0002 expand    + nullable title, backfill, a trigger keeping name and title equal; code uses title only
  2.0.0  skd0003 contract  min_compatible_version 1.1.0: drops the trigger and name
skewsvc (tests/skewdrill/skewsvc) is one build installed into every service venv next to one release.

Steps (from the issue):
  1. two services on 1.0.0, migrated, serving
  2. 1.1.0's expand migrates while both run 1.0.0; one upgrades; both serve correct data;
     `acmectl status --json` names who is behind
  3. 2.0.0's contract is refused, naming the service still on 1.0.0; status names who blocks it
  4. that service upgrades -> the contract applies -> a service pinned to 1.0.0 refuses to start
  5. a service on 2.0.0 started before skd0003 is applied: /readyz 503 until step 4's migrate, then 200
  6. (own database) kill -9 of a blocking instance: it leaves the live set after the heartbeat window and
     stops blocking
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import free_port, http_status, stop_group

DRILL = Path(__file__).resolve().parent / "skewdrill"
SERVICE_SRC = DRILL / "skewsvc"
VERSIONS = ("1.0.0", "1.1.0", "2.0.0")
# Short windows so step 6 takes seconds; the acmectl processes get the same values, because the
# migration gate and `status` judge liveness with their own ACME_INSTANCE_STALE_AFTER.
HEARTBEAT_INTERVAL = 0.5
STALE_AFTER = 3.0
START_TIMEOUT = 60.0

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def _redact(text: str) -> str:
    return _PASSWORD_IN_URL.sub(r"\1****@", text)


def _need(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `make test`", pytrace=False)
    return value


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus anything that could point an install at another index or
    make a venv's python import from elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if (k == "UV_CACHE_DIR" or not k.startswith(("PIP_", "UV_")))
           and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DATABASE_URL")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # gunicorn.conf.py is loaded from the source tree
    env.update(extra or {})
    return env


def _run(cmd: list, *, env: dict[str, str] | None = None, check: bool = True,
         timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [str(c) for c in cmd]
    res = subprocess.run(cmd, env=env or _clean_env(), capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    if check and res.returncode != 0:
        pytest.fail(_redact(f"`{' '.join(cmd)}` exited {res.returncode}\n{res.stdout}\n{res.stderr}"), pytrace=False)
    return res


def _sql(database_url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _ppid(pid: int) -> int | None:
    try:
        # Field 4 of /proc/<pid>/stat, after the parenthesised command name (which may hold spaces).
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------------------------------
# Releases, venvs, acmectl
# --------------------------------------------------------------------------------------------------

@dataclass
class Drill:
    work: Path
    tools: Path
    index_url: str
    service_wheel: Path
    release_venvs: dict[str, Path] = field(default_factory=dict)

    def _uv(self, *args, index: str = "") -> None:
        _run([self.tools / "uv", *args],
             env=_clean_env({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1",
                             **({"UV_DEFAULT_INDEX": index} if index else {})}))

    def _install(self, venv: Path, *requirements) -> None:
        # --no-config + one index (UV_DEFAULT_INDEX, like the stack: its URL carries the deploy login,
        # which the command line would show): the throwaway index is the only source (besides the
        # local skewsvc wheel); the machine's pip/uv configuration never applies.
        self._uv("pip", "install", "--no-config", "--quiet", "--python", venv / "bin" / "python",
                 *requirements, index=self.index_url)

    def _new_venv(self, venv: Path) -> None:
        self._uv("venv", "--no-config", "--quiet", "--clear", "--python", sys.executable, venv)

    def service_venv(self, name: str, version: str) -> Path:
        """A service's own venv: the skewsvc build plus acme-skewdemo==version and everything they need."""
        venv = self.work / "venvs" / name
        self._new_venv(venv)
        self._install(venv, self.service_wheel, f"acme-skewdemo=={version}")
        return venv

    def upgrade(self, venv: Path, version: str) -> None:
        self._install(venv, f"acme-skewdemo=={version}")

    def release(self, version: str) -> Path:
        """The venv a release's deploy job runs `acmectl` from: just the library (and the platform)."""
        if version not in self.release_venvs:
            venv = self.work / "venvs" / f"release-{version}"
            self._new_venv(venv)
            self._install(venv, f"acme-skewdemo=={version}")
            self.release_venvs[version] = venv
        return self.release_venvs[version]

    def acmectl(self, version: str, database_url: str, *args: str) -> subprocess.CompletedProcess:
        env = _clean_env({"DATABASE_URL": database_url, "ACME_INSTANCE_STALE_AFTER": str(STALE_AFTER)})
        return _run([self.release(version) / "bin" / "acmectl", *args], env=env, check=False, timeout=120)

    def migrate(self, version: str, database_url: str) -> subprocess.CompletedProcess:
        return self.acmectl(version, database_url, "migrate")

    def status(self, version: str, database_url: str) -> tuple[int, dict]:
        res = self.acmectl(version, database_url, "status", "--json")
        # 3 = some installed domain is not migrated up to date (the report is printed anyway).
        assert res.returncode in (0, 3), f"acmectl status failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        return res.returncode, json.loads(res.stdout)


def _login(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def drill(test_env, tmp_path_factory) -> Drill:
    """Builds the three releases and skewsvc once, and publishes the releases to the throwaway index."""
    work = tmp_path_factory.mktemp("skewdrill")
    tools = Path(test_env["ACME_TEST_TOOLS_BIN"])
    dist = work / "dist"
    sources = [DRILL / "skewdemo" / f"v{v.replace('.', '_')}" for v in VERSIONS] + [SERVICE_SRC]
    for src in sources:
        # Built from a copy, so nothing (build/, __pycache__) lands in the source tree or the wheel.
        staged = work / "src" / src.name
        shutil.copytree(src, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist"))
        _run([tools / "python", "-m", "build", "--no-isolation", "--wheel", "--outdir", dist, staged])
    wheels = {w.name: w for w in dist.glob("*.whl")}
    releases = [wheels.get(f"acme_skewdemo-{v}-py3-none-any.whl") for v in VERSIONS]
    service_wheel = wheels.get("skewsvc-1.0.0-py3-none-any.whl")
    assert all(releases) and service_wheel, f"unexpected build output: {sorted(wheels)}"
    _run([tools / "twine", "check", *releases, service_wheel])
    # Published like any library: with its owning team's publish login (acme-skewdemo declares
    # owner = "team-skewdemo"; the deploy login of ACME_TEST_INDEX_URL could only download).
    publisher = _login(Path(_need("ACME_TEST_INDEX_TEAMS")) / "team-skewdemo")
    # The console's browser test (tests/test_e2e_console_browser.py, another suite of the same run) publishes
    # the same releases to the same index. A published file is never replaced: the index answers 409 to the
    # second upload (twine's --skip-existing refuses to work with an index it does not know), so each file
    # goes up on its own and a 409 means the other suite got there first.
    for release in releases:
        res = _run([tools / "twine", "upload", "--non-interactive", "--disable-progress-bar",
                    "--repository-url", _need("ACME_TEST_INDEX_UPLOAD_URL"), release],
                   env=_clean_env({"TWINE_USERNAME": publisher["ACME_INDEX_USER"],
                                   "TWINE_PASSWORD": publisher["ACME_INDEX_PASSWORD"],
                                   "TWINE_NON_INTERACTIVE": "1",
                                   "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}), check=False)
        if res.returncode != 0 and "409" not in res.stdout + res.stderr:
            pytest.fail(_redact(f"uploading {release.name} failed:\n{res.stdout}\n{res.stderr}"), pytrace=False)
    return Drill(work=work, tools=tools, index_url=test_env["ACME_TEST_INDEX_URL"], service_wheel=service_wheel)


# --------------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------------

@dataclass
class Service:
    name: str
    venv: Path
    database_url: str
    port: int
    log: Path
    process: subprocess.Popen = field(repr=False)
    pid: int | None = None  # the gunicorn worker: the registered instance

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def get_items(self) -> tuple[str, list[tuple[int, str]]]:
        resp = requests.get(f"{self.url}/items", timeout=10)
        assert resp.status_code == 200, f"{self.name} GET /items: {resp.status_code} {resp.text}"
        body = resp.json()
        return body["library"], [(i["id"], i["title"]) for i in body["items"]]

    def add_item(self, title: str) -> int:
        resp = requests.post(f"{self.url}/items", json={"title": title}, timeout=10)
        assert resp.status_code == 201, f"{self.name} POST /items: {resp.status_code} {resp.text}"
        return resp.json()["id"]

    def readyz(self) -> tuple[int, dict]:
        resp = requests.get(f"{self.url}/readyz", timeout=10)
        return resp.status_code, resp.json()

    def stop(self) -> None:
        """SIGTERM to the process group (gunicorn's graceful stop: the worker deregisters), SIGKILL after 20 s."""
        stop_group(self.process)

    def kill9(self) -> None:
        """The whole process group, master and worker: no worker_exit, no atexit, no respawn."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class Launcher:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.started: list[Service] = []
        self.logins: dict[str, str] = {}   # administrator's database URL -> skewsvc's login on it

    def spawn(self, name: str, venv: Path, database_url: str) -> Service:
        port = free_port()
        env = _clean_env({
            # The service's own login role (see roles()), never the administrator's database_url.
            "DATABASE_URL": self.logins[database_url],
            "ACME_SERVICE_NAME": name,
            "SKEWSVC_PORT": str(port),
            "ACME_BIND_HOST": "127.0.0.1",
            "ACME_WEB_WORKERS": "1",
            "ACME_HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL),
            "ACME_INSTANCE_STALE_AFTER": str(STALE_AFTER),
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        })
        log = self.tmp / f"{name}-{port}.log"
        with open(log, "w") as fh:
            cmd = [venv / "bin" / "gunicorn", "-c", "gunicorn.conf.py", "skewsvc.app:create_app()"]
            proc = subprocess.Popen([str(c) for c in cmd], cwd=SERVICE_SRC, env=env, stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        svc = Service(name, venv, database_url, port, log, proc)
        self.started.append(svc)
        return svc

    def start(self, name: str, venv: Path, database_url: str) -> Service:
        """Start and wait until it serves and its worker has registered in acme_platform.instances."""
        svc = self.spawn(name, venv, database_url)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if http_status(f"{svc.url}/healthz") == 200:
                rows = [pid for (pid,) in _sql(
                    database_url, "SELECT pid FROM acme_platform.instances WHERE service = %s "
                    "AND heartbeat_at > now() - make_interval(secs => %s)", (name, STALE_AFTER))
                    if _ppid(pid) == svc.process.pid]
                if rows:
                    svc.pid = rows[0]
                    return svc
            if svc.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start and register:\n{svc.log_text()[-4000:]}", pytrace=False)
            time.sleep(0.2)

    def stop_all(self) -> None:
        for svc in reversed(self.started):
            try:
                svc.stop()
            except Exception:  # keep stopping the others
                try:
                    os.killpg(svc.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _sigterm_as_interrupt(signum, frame):
    # `make test` stops a suite with SIGTERM (timeout, Ctrl-C); raising lets the finally below stop the services.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture
def launcher(tmp_path):
    launcher = Launcher(tmp_path)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        yield launcher
    finally:
        launcher.stop_all()
        signal.signal(signal.SIGTERM, previous)


def _restart_on(launcher: Launcher, drill: Drill, svc: Service, version: str) -> Service:
    """A rolling upgrade of one service: stop it, install the release into its venv, start it again."""
    svc.stop()
    left = _sql(svc.database_url, "SELECT pid FROM acme_platform.instances WHERE pid = %s", (svc.pid,))
    assert left == [], f"{svc.name} (pid {svc.pid}) stopped cleanly but did not deregister: {left}"
    drill.upgrade(svc.venv, version)
    new = launcher.start(svc.name, svc.venv, svc.database_url)
    assert new.get_items()[0] == f"acme-skewdemo {version}"
    return new


def _assert_applied(res: subprocess.CompletedProcess, line: str) -> None:
    assert res.returncode == 0 and line in res.stdout, res.stdout + res.stderr


def _findings(report: dict, kind: str) -> list[dict]:
    return [f for f in report["skew"] if f["kind"] == kind]


def _behind(report: dict) -> set[tuple]:
    return {(f["service"], f["pid"], f["package"], f["version"], f["newest_live"]) for f in _findings(report, "behind")}


def _live(report: dict) -> set[tuple]:
    return {(i["service"], i["pid"], i["packages"].get("acme-skewdemo")) for i in report["instances"]}


# --------------------------------------------------------------------------------------------------
# The drill
# --------------------------------------------------------------------------------------------------

def roles(venv: Path, admin_url: str, secrets: Path) -> dict[str, str]:
    """`acmectl roles apply` from a service venv, as `make up` does: {"migrator" | "skewsvc": DATABASE_URL}."""
    env = _clean_env({"ACME_ADMIN_DATABASE_URL": admin_url})
    _run([venv / "bin" / "acmectl", "roles", "apply", "--secrets", secrets], env=env, timeout=120)
    return {p.name: _login(p)["DATABASE_URL"] for p in secrets.iterdir()}


def test_skew_drill_expand_contract_across_live_services(drill, launcher, make_database, tmp_path):
    db = make_database()

    # 1. Two services on 1.0.0, migrated, serving. -------------------------------------------------
    # Roles as under `make up`: migrations run as the migrator (as the schema's owner), services as their
    # own login; `db` (the administrator) is only used for the drill's own assertions.
    venv_a = drill.service_venv("skewsvc-a", "1.0.0")
    venv_b = drill.service_venv("skewsvc-b", "1.0.0")
    logins = roles(venv_a, db, tmp_path / "logins")
    launcher.logins[db] = logins["skewsvc"]
    migrator = logins["migrator"]
    res = drill.migrate("1.0.0", migrator)
    _assert_applied(res, "skewdemo (acme-skewdemo 1.0.0): applied skd0001")
    a = launcher.start("skewsvc-a", venv_a, db)
    b = launcher.start("skewsvc-b", venv_b, db)
    apple = a.add_item("apple")
    banana = b.add_item("banana")
    for svc in (a, b):
        assert svc.get_items() == ("acme-skewdemo 1.0.0", [(apple, "apple"), (banana, "banana")])
        assert svc.readyz()[0] == 200

    # 2. 1.1.0's expand revision: allowed while both run 1.0.0. -----------------------------------
    _, report = drill.status("1.1.0", migrator)
    assert _live(report) == {("skewsvc-a", a.pid, "1.0.0"), ("skewsvc-b", b.pid, "1.0.0")}
    res = drill.migrate("1.1.0", migrator)
    _assert_applied(res, "skewdemo (acme-skewdemo 1.1.0): applied skd0002")
    cherry = a.add_item("cherry")  # 1.0.0 code against the expanded schema
    for svc in (a, b):
        assert svc.get_items() == ("acme-skewdemo 1.0.0", [(apple, "apple"), (banana, "banana"), (cherry, "cherry")])
        assert svc.readyz()[0] == 200

    # Upgrade B; both keep serving correct data, each through its own column.
    b = _restart_on(launcher, drill, b, "1.1.0")
    damson = b.add_item("damson")  # 1.1.0 writes title only; the expand trigger fills name for A
    titles = [(apple, "apple"), (banana, "banana"), (cherry, "cherry"), (damson, "damson")]
    assert a.get_items() == ("acme-skewdemo 1.0.0", titles)
    assert b.get_items() == ("acme-skewdemo 1.1.0", titles)
    # Which column each version reads: make them differ on one row (the trigger leaves a two-column update alone).
    probe = a.add_item("probe")
    _sql(db, "UPDATE skewdemo.items SET name = 'probe-name', title = 'probe-title' WHERE id = %s", (probe,))
    assert a.get_items()[1][-1] == (probe, "probe-name"), "1.0.0 must read name and ignore title"
    assert b.get_items()[1][-1] == (probe, "probe-title"), "1.1.0 must read title"
    titles.append((probe, "probe-title"))

    rc, report = drill.status("1.1.0", migrator)
    assert rc == 0
    assert _live(report) == {("skewsvc-a", a.pid, "1.0.0"), ("skewsvc-b", b.pid, "1.1.0")}
    # Who is behind: A, and only A.
    assert _behind(report) == {("skewsvc-a", a.pid, "acme-skewdemo", "1.0.0", "1.1.0")}, report["skew"]
    assert [f["kind"] for f in report["skew"]] == ["behind"], report["skew"]

    # 3 (+5). 2.0.0's contract revision while A still runs 1.0.0. --------------------------------
    # Step 5 rides along: C runs 2.0.0 before skd0003 is applied, so it must not be ready.
    c = launcher.start("skewsvc-c", drill.service_venv("skewsvc-c", "2.0.0"), db)
    code, body = c.readyz()
    assert code == 503 and body["code"] == "platform.migrations_pending", body
    assert "acme-skewdemo 2.0.0 needs revision skd0003; database has skd0002" in body["detail"], body

    rc, report = drill.status("2.0.0", migrator)
    assert rc == 3, "status exits 3 while a revision of an installed domain is pending"
    blocking = [(f["service"], f["pid"], f["version"], f["revision"], f["min_compatible_version"])
                for f in _findings(report, "blocks_contract")]
    assert blocking == [("skewsvc-a", a.pid, "1.0.0", "skd0003", "1.1.0")], report["skew"]
    assert [(f["package"], f["database"], f["head"]) for f in _findings(report, "migration_pending")] == [
        ("acme-skewdemo", ["skd0002"], ["skd0003"])], report["skew"]
    assert _behind(report) == {("skewsvc-a", a.pid, "acme-skewdemo", "1.0.0", "2.0.0"),
                               ("skewsvc-b", b.pid, "acme-skewdemo", "1.1.0", "2.0.0")}, report["skew"]

    res = drill.migrate("2.0.0", migrator)
    assert res.returncode != 0, f"contract applied although skewsvc-a runs 1.0.0:\n{res.stdout}"
    assert ("contract revision skd0003 requires acme-skewdemo >= 1.1.0" in res.stderr
            and f"skewsvc-a on {report['instances'][0]['host']} (pid {a.pid}) runs acme-skewdemo 1.0.0" in res.stderr
            ), res.stderr
    assert "skewsvc-b" not in res.stderr and "skewsvc-c" not in res.stderr, res.stderr
    assert _sql(db, "SELECT version_num FROM skewdemo.alembic_version") == [("skd0002",)]
    assert _sql(db, "SELECT revision FROM skewdemo.acme_migration_ledger ORDER BY revision") == [
        ("skd0001",), ("skd0002",)]
    assert c.readyz()[0] == 503, "a refused migration applies nothing"

    # 4. Upgrade A to 1.1.0 -> the contract applies. ----------------------------------------------
    a = _restart_on(launcher, drill, a, "1.1.0")
    res = drill.migrate("2.0.0", migrator)
    _assert_applied(res, "skewdemo (acme-skewdemo 2.0.0): applied skd0003")
    assert _sql(db, "SELECT revision, phase, applied_by_version, min_compatible_version, forced "
                    "FROM skewdemo.acme_migration_ledger ORDER BY revision") == [
        ("skd0001", "expand", "1.0.0", None, False),
        ("skd0002", "expand", "1.1.0", None, False),
        ("skd0003", "contract", "2.0.0", "1.1.0", False)]
    assert _sql(db, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'skewdemo' "
                    "AND table_name = 'items' ORDER BY 1") == [("id",), ("title",)]

    # 5 (end). C is ready now; the 1.1.0 services are ready on a database ahead of their library.
    code, body = c.readyz()
    assert code == 200 and body["domains"]["skewdemo"] == "2.0.0", body
    for svc in (a, b):
        assert svc.readyz()[0] == 200
    # min_compatible_version = "1.1.0" holds: 1.1.0 and 2.0.0 read and write the contracted schema.
    elder = a.add_item("elder")
    fig = c.add_item("fig")
    titles += [(elder, "elder"), (fig, "fig")]
    assert a.get_items() == ("acme-skewdemo 1.1.0", titles)
    assert b.get_items() == ("acme-skewdemo 1.1.0", titles)
    assert c.get_items() == ("acme-skewdemo 2.0.0", titles)

    # A service pinned to 1.0.0 refuses to start, naming both versions.
    old = launcher.spawn("skewsvc-old", drill.service_venv("skewsvc-old", "1.0.0"), db)
    try:
        rc = old.process.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"skewsvc-old (acme-skewdemo 1.0.0) kept running:\n{old.log_text()[-4000:]}", pytrace=False)
    log = old.log_text()
    assert rc != 0, log
    assert ("skewsvc-old refuses to start: acme-skewdemo 1.0.0 is installed, but schema 'skewdemo' requires "
            "acme-skewdemo >= 1.1.0 (contract revision skd0003 is applied)") in log, log[-4000:]
    assert _sql(db, "SELECT count(*) FROM acme_platform.instances WHERE service = 'skewsvc-old'") == [(0,)]

    rc, report = drill.status("2.0.0", migrator)
    assert rc == 0
    assert report["database"]["skewdemo"]["required_minimum"] == "1.1.0"
    assert _live(report) == {("skewsvc-a", a.pid, "1.1.0"), ("skewsvc-b", b.pid, "1.1.0"),
                             ("skewsvc-c", c.pid, "2.0.0")}
    assert {f["kind"] for f in report["skew"]} == {"behind"}, report["skew"]


def test_skew_drill_killed_instance_stops_blocking_after_the_heartbeat_window(drill, launcher, make_database,
                                                                              tmp_path):
    # 6. On its own database: 1.1.0's schema, one 1.0.0 instance that blocks 2.0.0's contract. ------
    db = make_database()
    venv = drill.service_venv("skewsvc-doomed", "1.0.0")
    logins = roles(venv, db, tmp_path / "logins")
    launcher.logins[db] = logins["skewsvc"]
    migrator = logins["migrator"]
    res = drill.migrate("1.1.0", migrator)
    assert res.returncode == 0, res.stdout + res.stderr
    doomed = launcher.start("skewsvc-doomed", venv, db)
    res = drill.migrate("2.0.0", migrator)
    assert res.returncode != 0 and "skewsvc-doomed on" in res.stderr and f"(pid {doomed.pid})" in res.stderr, \
        res.stdout + res.stderr

    doomed.kill9()
    killed_at = time.monotonic()
    # No clean shutdown ran: the row is still there, and only its heartbeat's age ends its liveness.
    assert _sql(db, "SELECT count(*) FROM acme_platform.instances WHERE pid = %s", (doomed.pid,)) == [(1,)]

    deadline = killed_at + STALE_AFTER + 30
    while True:
        _, report = drill.status("2.0.0", migrator)
        if not any(i["service"] == "skewsvc-doomed" for i in report["instances"]):
            break
        assert time.monotonic() < deadline, f"killed instance still live {time.monotonic() - killed_at:.0f}s later"
        time.sleep(0.3)
    # Gone from the live set because its last heartbeat is older than the window, not because it was removed.
    age = _sql(db, "SELECT extract(epoch FROM now() - heartbeat_at)::float FROM acme_platform.instances "
                   "WHERE pid = %s", (doomed.pid,))
    assert age and age[0][0] >= STALE_AFTER, age
    assert _findings(report, "blocks_contract") == [], report["skew"]

    res = drill.migrate("2.0.0", migrator)
    assert res.returncode == 0 and "applied skd0003" in res.stdout, res.stdout + res.stderr
    assert _sql(db, "SELECT forced FROM skewdemo.acme_migration_ledger WHERE revision = 'skd0003'") == [(False,)]
