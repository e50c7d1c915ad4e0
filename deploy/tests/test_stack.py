"""The local stack end to end: `make up` twice, the index's access rules, `make status`, `make down`.

SLOW (about a minute): it clones the repo into a temp dir (overlaid with the working tree's files,
so the current code is what runs), brings the whole stack up there on free, non-default ports,
and always tears it down again. It never touches the caller's own `.run/` stack.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import service_spec
from ps_sampler import PsSampler, passwords
from stack_support import Stack, assert_nothing_left_running, explain, sigterm_as_interrupt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(repo_root):
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    s = None
    try:
        s = Stack(repo_root)
        # Every command line on the machine, sampled while the first `make up` of the clean clone runs.
        with PsSampler() as s.ps:
            s.first_up = s.make("up")
        yield s
    finally:
        if s is not None:
            s.teardown()
        signal.signal(signal.SIGTERM, previous)


def test_make_up_starts_the_stack_and_names_its_addresses(stack):
    res = stack.first_up
    assert res.returncode == 0, explain(res)
    assert f"127.0.0.1:{stack.ports['ACME_INDEX_PORT']}" in res.stdout
    assert f"127.0.0.1:{stack.ports['ACME_PG_PORT']}" in res.stdout
    assert "****" in res.stdout, "the Postgres password must be masked in the summary"
    password = stack.credentials()[1]
    assert password not in res.stdout + res.stderr
    for name in stack.services:
        assert f"127.0.0.1:{stack.ports[service_spec(stack.root, name)['port_env']]}" in res.stdout


def _credential_files(stack) -> list[Path]:
    # The database logins `acmectl roles apply` wrote (migrator, one per service) count as credentials too.
    return [stack.root / ".run/index/credentials", stack.root / ".run/postgres/credentials",
            *sorted((stack.root / ".run/index/teams").iterdir()), *sorted((stack.root / ".run/postgres/roles").iterdir())]


def test_credentials_files_are_private(stack):
    files = _credential_files(stack)
    # One publish login per team that owns a library (derived from the libraries' declarations).
    teams = {f.name for f in files if f.parent.name == "teams"}
    assert {f.name for f in files if f.parent.name == "roles"} == {"migrator", "storefront", "backoffice", "fulfillment"}
    owners = set()
    for pyproject in (stack.root / "libs").glob("*/pyproject.toml"):
        owners.add(tomllib.loads(pyproject.read_text())["tool"]["acme"]["library"]["owner"])
    assert teams == owners
    for path in files:
        mode = path.stat().st_mode & 0o777
        assert mode == 0o600, f"{path.relative_to(stack.root)} has mode {oct(mode)}"
    assert (stack.root / ".run/index/teams").stat().st_mode & 0o777 == 0o700


def test_no_password_on_any_command_line_during_make_up(stack):
    secrets = passwords(_credential_files(stack))
    assert len(secrets) >= 3
    ps = stack.ps
    # The sampler did see make up's work (installs, uploads): an empty sample would prove nothing.
    assert any("uv pip sync" in line or "uv pip install" in line for line in ps.seen), sorted(ps.seen)[:50]
    assert ps.leaks(secrets) == []
    # ...and it would have caught one: a planted process with a password in its argv is reported.
    planted = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)", next(iter(secrets.values()))])
    try:
        probe = PsSampler()
        probe.sample()
        assert probe.leaks(secrets), "the sampler missed a password on a command line"
    finally:
        planted.kill()
        planted.wait()


def test_second_make_up_does_nothing(stack):
    before = stack.pids()
    res = stack.make("up")
    assert res.returncode == 0, explain(res)
    steps = [line for line in res.stdout.splitlines() if line.startswith("      ")]
    changed = [line for line in steps
               if "nothing to" not in line and not line.strip().startswith("warning:")]
    assert not changed, "second `make up` changed something:\n" + "\n".join(changed)
    assert stack.pids() == before, "second `make up` started or restarted processes"


def _post(url: str, auth: tuple[str, str] | None = None) -> int:
    boundary = "acmeboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"evil-1.0.tar.gz\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\nnot a package\r\n--{boundary}--\r\n").encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def test_index_refuses_anonymous_upload(stack):
    status = _post(f"http://127.0.0.1:{stack.ports['ACME_INDEX_PORT']}/")
    assert status in (401, 403)
    assert not list((stack.root / ".run/index/packages").glob("evil-*"))


def _pip_download(stack, index_url: str, dest: Path) -> subprocess.CompletedProcess:
    # Isolated pip: no machine config, no PIP_* variables, no prompts, so only `index_url` is used.
    env = {k: v for k, v in stack.env.items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    # The tools venv's pip (uv-made venvs, like this runner's, have none).
    pip_python = Path(os.environ["ACME_TEST_TOOLS_BIN"]) / "python"
    return subprocess.run(
        [str(pip_python), "-m", "pip", "download", "--isolated", "--no-input", "--disable-pip-version-check",
         "--no-deps", "--index-url", index_url, "-d", str(dest), "acme-platform"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def test_index_refuses_anonymous_install(stack, tmp_path):
    base = f"http://127.0.0.1:{stack.ports['ACME_INDEX_PORT']}"
    assert _get_status(f"{base}/simple/acme-platform/") == 401
    assert _get_status(f"{base}/simple/") == 401
    res = _pip_download(stack, f"{base}/simple/", tmp_path)
    assert res.returncode != 0, res.stdout
    assert "No matching distribution" in res.stdout + res.stderr
    assert not list(tmp_path.iterdir())


def test_index_serves_published_libs_with_the_deploy_login(stack, tmp_path):
    user, password = stack.credentials()
    res = _pip_download(stack, f"http://{user}:{password}@127.0.0.1:{stack.ports['ACME_INDEX_PORT']}/simple/", tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert list(tmp_path.glob("acme_platform-*.whl"))


def test_index_is_served_by_waitress(stack):
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['ACME_INDEX_PORT']}/health", timeout=5) as resp:
        assert resp.headers.get("Server", "").startswith("waitress")


def test_wheels_are_reproducible_across_builds_and_clones(stack, repo_root, tmp_path):
    sys.path.insert(0, str(repo_root / "deploy"))
    try:
        from acme_stack import publish
        from acme_stack.config import Layout
    finally:
        sys.path.pop(0)
    tools = Path(os.environ["ACME_TEST_TOOLS_BIN"]).parent
    log = tmp_path / "build.log"

    def wheel_sha(root: Path, out: str) -> str:
        layout = Layout(root=root, run=tmp_path / out, tools=tools)
        files = publish.build(layout, root / "libs" / "acme-platform", tmp_path / out, log)
        (whl,) = [f for f in files if f.suffix == ".whl"]
        return hashlib.sha256(whl.read_bytes()).hexdigest()

    first = wheel_sha(repo_root, "a")
    assert wheel_sha(repo_root, "b") == first, "two builds of the same tree differ"
    assert wheel_sha(stack.root, "c") == first, "a build from a clone differs from the working tree's"


def test_make_status_lists_everything(stack):
    res = stack.make("status")
    assert res.returncode == 0, explain(res)
    lines = res.stdout.splitlines()
    for name in ["postgres", "index", *stack.services]:
        row = [line for line in lines if line.split() and line.split()[0] == name]
        assert row and row[0].rstrip().endswith("alive"), f"{name} not listed as alive:\n{res.stdout}"


def test_make_down_leaves_nothing_running(stack):
    res = stack.make("down")
    assert res.returncode == 0, explain(res)
    assert_nothing_left_running(stack)
    # Data survives `make down` so the next `make up` reuses it.
    assert (stack.root / ".run/postgres/data/PG_VERSION").exists()
    assert (stack.root / ".run/index/credentials").exists()
