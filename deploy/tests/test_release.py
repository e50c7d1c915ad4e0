"""The release pipeline against the real throwaway index of `make test`, with real builds.

`make release` (deploy/acme_stack/release.py) runs here as the real command, on small throwaway
libraries ("acme-relmock-<random>", one per scenario so no test depends on another's uploads) whose
API changes between versions. The command runs from a copy of deploy/ in a temp "repo", so its logs
and state never land in the working tree; it reuses the tools venv of `make test`.

Also here: two builds of one tree are byte-identical, and `make bump` / `make deps` adopt and show
released versions for a throwaway service.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from ps_sampler import PsSampler, passwords

TIMEOUT = 600


# -- the command, run from a throwaway root ------------------------------------------------------
def _index() -> dict[str, str]:
    url = os.environ.get("ACME_TEST_INDEX_URL", "")
    if not url:
        pytest.fail("ACME_TEST_INDEX_URL is not set: run these tests through `make test`", pytrace=False)
    # user/password: the read-only deploy login; teams: the folder of per-team publish logins.
    return {"url": url, "upload": os.environ["ACME_TEST_INDEX_UPLOAD_URL"],
            "user": os.environ["ACME_TEST_INDEX_USER"], "password": os.environ["ACME_TEST_INDEX_PASSWORD"],
            "teams": os.environ["ACME_TEST_INDEX_TEAMS"]}


def _clean_env(tools_venv: Path) -> dict[str, str]:
    venv = os.environ.get("VIRTUAL_ENV", "")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if not venv or not p.startswith(venv)]
    env = {k: v for k, v in os.environ.items()
           if (k == "UV_CACHE_DIR" or not k.startswith(("PIP_", "UV_", "ACME_")))
           and k not in ("VIRTUAL_ENV", "DATABASE_URL", "PYTHONPATH", "MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    idx = _index()
    env.update({
        "PATH": os.pathsep.join(path),
        "ACME_TOOLS_VENV": str(tools_venv),
        "ACME_INDEX_URL": idx["url"],
        "ACME_INDEX_UPLOAD_URL": idx["upload"],
        "ACME_INDEX_USER": idx["user"],
        "ACME_INDEX_PASSWORD": idx["password"],
        # `make release` picks the publish login of the library's declared owner from this folder.
        "ACME_INDEX_TEAMS": idx["teams"],
    })
    if os.environ.get("ACME_TEST_DATABASE_URL"):
        env["ACME_TEST_DATABASE_URL"] = os.environ["ACME_TEST_DATABASE_URL"]
    return env


class Stack:
    """`python3 <root>/deploy/stack.py …` with the index of `make test`."""

    def __init__(self, root: Path, env: dict[str, str], python: str):
        self.root, self.env, self.python = root, env, python

    def run(self, *args: str) -> subprocess.CompletedProcess:
        res = subprocess.run([self.python, str(self.root / "deploy" / "stack.py"), *args], env=self.env,
                             cwd=self.root, capture_output=True, text=True, timeout=TIMEOUT)
        res.output = res.stdout + res.stderr
        return res

    def release(self, lib: Path) -> subprocess.CompletedProcess:
        return self.run("release", str(lib))


@pytest.fixture(scope="module")
def stack(repo_root, tmp_path_factory, test_env) -> Stack:
    root = tmp_path_factory.mktemp("release-root")
    src = repo_root / "deploy"
    shutil.copytree(src / "acme_stack", root / "deploy" / "acme_stack", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("stack.py", "requirements-tools.txt", "requirements-tools.in"):
        shutil.copy2(src / name, root / "deploy" / name)
    tools_venv = Path(test_env["ACME_TEST_TOOLS_BIN"]).parent
    env = _clean_env(tools_venv)
    python = shutil.which("python3", path=env["PATH"])
    assert python, "python3 not on PATH"
    # The tools venv is shared with every suite of this run: never let a different interpreter
    # decide it is stale and reinstall it under them.
    probe = subprocess.run([python, "-c", "import sys; sys.path.insert(0, 'deploy');"
                            "from acme_stack import config, tools;"
                            "print(tools.is_current(config.Layout.for_repo()))"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=60)
    if probe.stdout.strip() != "True":
        pytest.fail(f"{python} would not reuse the tools venv {tools_venv}: {probe.stdout}{probe.stderr}",
                    pytrace=False)
    return Stack(root, env, python)


def index_files(project: str) -> dict[str, str]:
    """filename -> sha256 of what the index serves for `project` (read over HTTP, like a client)."""
    idx = _index()
    parts = urllib.parse.urlsplit(idx["url"])
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")) + project + "/"
    req = urllib.request.Request(url)
    token = base64.b64encode(f"{idx['user']}:{idx['password']}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read().decode()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return {}
        raise
    return {name: sha for sha, name in re.findall(r'href="[^"#]+#sha256=([0-9a-f]{64})"[^>]*>([^<]+)<', body)}


# -- throwaway libraries ------------------------------------------------------------------------
ERRORS = '''"""Errors, each with a stable code."""


class RelmockError(Exception):
    code = "relmock.error"


class OutOfStock(RelmockError):
    code = "relmock.out_of_stock"
'''

# Each variant is a full public API. "breaking" renames a parameter and drops an error class
# (a removed name and a changed exception contract); "additive" only adds a function.
VARIANTS = {
    "base": {
        "exports": ["reserve", "RelmockError", "OutOfStock"],
        "service": "def reserve(uow, sku: str, qty: int = 1) -> int:\n    return qty\n",
        "errors": ERRORS,
    },
    "additive": {
        "exports": ["reserve", "release", "RelmockError", "OutOfStock"],
        "service": ("def reserve(uow, sku: str, qty: int = 1) -> int:\n    return qty\n\n\n"
                    "def release(uow, sku: str, qty: int = 1) -> int:\n    return qty\n"),
        "errors": ERRORS,
    },
    "additive-more": {
        "exports": ["reserve", "release", "restock", "RelmockError", "OutOfStock"],
        "service": ("def reserve(uow, sku: str, qty: int = 1) -> int:\n    return qty\n\n\n"
                    "def release(uow, sku: str, qty: int = 1) -> int:\n    return qty\n\n\n"
                    "def restock(uow, sku: str) -> None:\n    pass\n"),
        "errors": ERRORS,
    },
    "breaking": {
        "exports": ["reserve", "RelmockError"],
        "service": "def reserve(uow, sku: str, quantity: int = 1) -> int:\n    return quantity\n",
        "errors": ERRORS.split("\n\n\nclass OutOfStock")[0] + "\n",
    },
}

CONTRACT_REVISION = '''"""Drop the legacy column (versions before 2.0.0 still read it)."""
revision = "rm0002"
down_revision = "rm0001"
phase = "contract"
min_compatible_version = "2.0.0"
'''

EXPAND_REVISION = '''"""Initial tables."""
revision = "rm0001"
down_revision = None
phase = "expand"
'''


# The index knows acme-relmock-* as team-relmock's (deploy/tests/index-owners.toml).
OWNER = "team-relmock"


class MockLib:
    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        self.package = name.replace("-", "_")

    def write(self, version: str, variant: str = "base", changelog: tuple[str, ...] | None = None,
              contract: bool = False, readme_note: str = "", owner: str = OWNER) -> "MockLib":
        api = VARIANTS[variant]
        if self.path.exists():
            shutil.rmtree(self.path)
        pkg = self.path / "src" / self.package
        (pkg / "migrations" / "versions").mkdir(parents=True)
        (self.path / "tests").mkdir()
        (self.path / "pyproject.toml").write_text(f'''[build-system]
requires = ["hatchling==1.33.0"]
build-backend = "hatchling.build"

[project]
name = "{self.name}"
version = "{version}"
description = "Throwaway library for the release pipeline tests."
readme = "README.md"
requires-python = ">=3.11"
license = "MIT"
dependencies = []

[project.optional-dependencies]
test = ["pytest>=8"]

[tool.acme.library]
owner = "{owner}"

[tool.hatch.build.targets.wheel]
packages = ["src/{self.package}"]
''')
        (self.path / "README.md").write_text(f"# {self.name}\n\nThrowaway library.{readme_note}\n")
        entries = changelog if changelog is not None else (version,)
        (self.path / "CHANGELOG.md").write_text(
            "# Changelog\n\n" + "".join(f"## {v} - 2026-11-25\n- changes of {v}\n\n" for v in reversed(entries)))
        imports = sorted(n for n in api["exports"] if n[0].islower())
        errors = sorted(n for n in api["exports"] if n[0].isupper())
        (pkg / "__init__.py").write_text(
            f'"""{self.name}: throwaway library."""\n'
            f"from .errors import {', '.join(errors)}\n"
            f"from .service import {', '.join(imports)}\n\n"
            f"__all__ = {api['exports']!r}\n")
        (pkg / "service.py").write_text(api["service"])
        (pkg / "errors.py").write_text(api["errors"])
        (pkg / "migrations" / "__init__.py").write_text("")
        (pkg / "migrations" / "versions" / "__init__.py").write_text("")
        (pkg / "migrations" / "versions" / "rm0001_initial.py").write_text(EXPAND_REVISION)
        if contract:
            (pkg / "migrations" / "versions" / "rm0002_drop_legacy.py").write_text(CONTRACT_REVISION)
        (self.path / "tests" / "test_api.py").write_text(
            f"import {self.package} as lib\n\n\n"
            f"def test_reserve_returns_the_quantity():\n"
            f"    assert lib.reserve(None, 'SKU-1', 2) == 2\n")
        return self

    def copy(self, dest: Path) -> "MockLib":
        shutil.copytree(self.path, dest)
        return MockLib(dest, self.name)


@pytest.fixture(scope="module")
def new_lib(tmp_path_factory):
    def make() -> MockLib:
        name = f"acme-relmock-{uuid.uuid4().hex[:8]}"
        return MockLib(tmp_path_factory.mktemp("libs") / name, name)
    return make


def _ok(res) -> None:
    assert res.returncode == 0, res.output


def _refused(res, *needles: str) -> None:
    assert res.returncode != 0, f"expected a refusal:\n{res.output}"
    for needle in needles:
        assert needle in res.output, f"{needle!r} not in:\n{res.output}"
    assert "Traceback" not in res.output, res.output


@pytest.fixture(scope="module")
def lib_v1(stack, new_lib) -> MockLib:
    """A library with 1.0.0 released (and nothing else ever published for it)."""
    lib = new_lib().write("1.0.0")
    with PsSampler() as ps:  # every command line seen while `make release` runs
        res = stack.release(lib.path)
    _ok(res)
    secrets = passwords(sorted(Path(_index()["teams"]).iterdir()))
    secrets["deploy"] = _index()["password"]
    assert any("uv pip install" in line for line in ps.seen), "the sampler saw none of the release's installs"
    assert ps.leaks(secrets) == [], "a password was on a command line during `make release`"
    assert f"{lib.name} 1.0.0 published" in res.output
    assert "first release" in res.output
    assert f"(as {OWNER})" in res.output  # uploaded with the owning team's publish login
    return lib


@pytest.fixture(scope="module")
def lib_v1_v11(stack, new_lib):
    """A library with 1.0.0 and the additive 1.1.0 released; returns (lib, output of the 1.1.0 release)."""
    lib = new_lib().write("1.0.0")
    _ok(stack.release(lib.path))
    lib.write("1.1.0", "additive", changelog=("1.0.0", "1.1.0"))
    return lib, stack.release(lib.path)


# -- publishing and immutability ----------------------------------------------------------------
def test_first_release_uploads_the_reproducible_build(lib_v1):
    served = index_files(lib_v1.name)
    assert sorted(served) == [f"{lib_v1.package}-1.0.0-py3-none-any.whl", f"{lib_v1.package}-1.0.0.tar.gz"]


def test_releasing_the_same_version_again_with_identical_content_is_a_successful_noop(stack, lib_v1):
    before = index_files(lib_v1.name)
    res = stack.release(lib_v1.path)
    _ok(res)
    assert "already published with identical content: nothing to do" in res.output
    assert "uploaded" not in res.output
    assert index_files(lib_v1.name) == before


def test_releasing_the_same_version_with_different_content_is_refused_and_changes_nothing(
        stack, lib_v1, tmp_path):
    before = index_files(lib_v1.name)
    changed = lib_v1.copy(tmp_path / lib_v1.name)
    (changed.path / "src" / changed.package / "service.py").write_text(
        VARIANTS["base"]["service"] + "\n# a fix shipped without a version bump\n")
    res = stack.release(changed.path)
    _refused(res, f"{lib_v1.name} 1.0.0 is already published with different content",
             "released versions are immutable: bump the version", "Nothing was uploaded")
    assert index_files(lib_v1.name) == before


def test_another_teams_login_cannot_release_the_library_and_nothing_is_stored(stack, lib_v1, tmp_path):
    """The library claims to be team-catalog's, so `make release` uploads with team-catalog's publish
    login; the index knows it is team-relmock's and refuses with 403, naming package and owner."""
    before = index_files(lib_v1.name)
    lib = lib_v1.copy(tmp_path / lib_v1.name).write("1.1.0", "additive", changelog=("1.0.0", "1.1.0"),
                                                   owner="team-catalog")
    res = stack.release(lib.path)
    _refused(res, f"the index refused {lib.name} 1.1.0 from team-catalog (HTTP 403)",
             f"{lib.name} is owned by {OWNER}: team-catalog may not upload it")
    assert index_files(lib_v1.name) == before


def test_the_deploy_login_cannot_release(stack, lib_v1, tmp_path):
    before = index_files(lib_v1.name)
    lib = lib_v1.copy(tmp_path / lib_v1.name).write("1.1.0", "additive", changelog=("1.0.0", "1.1.0"))
    idx = _index()
    env = dict(stack.env, ACME_INDEX_PUBLISH_USER=idx["user"], ACME_INDEX_PUBLISH_PASSWORD=idx["password"])
    res = Stack(stack.root, env, stack.python).release(lib.path)
    _refused(res, "(HTTP 403)", f"{lib.name} is owned by {OWNER}: {idx['user']} may not upload it")
    assert index_files(lib_v1.name) == before


def test_a_version_without_a_changelog_entry_is_refused(stack, lib_v1, tmp_path):
    before = index_files(lib_v1.name)
    lib = lib_v1.copy(tmp_path / lib_v1.name).write("1.1.0", "additive", changelog=("1.0.0",))
    res = stack.release(lib.path)
    _refused(res, "CHANGELOG.md has no entry for 1.1.0")
    assert "[3/6]" not in res.output  # stopped at step 2
    assert index_files(lib_v1.name) == before


def test_a_version_not_higher_than_the_newest_published_is_refused(stack, lib_v1_v11, tmp_path):
    lib, _ = lib_v1_v11
    before = index_files(lib.name)
    older = lib.copy(tmp_path / lib.name).write("1.0.5", "additive", changelog=("1.0.0", "1.0.5"))
    _refused(stack.release(older.path), "1.0.5 is not higher than the newest published version 1.1.0")
    assert index_files(lib.name) == before


def test_failing_library_tests_stop_the_release_first(stack, lib_v1, tmp_path):
    lib = lib_v1.copy(tmp_path / lib_v1.name).write("1.1.0", "additive", changelog=("1.0.0", "1.1.0"))
    (lib.path / "tests" / "test_api.py").write_text("def test_broken():\n    assert False\n")
    res = stack.release(lib.path)
    _refused(res, "tests failed", "1 failed")
    assert "[2/6]" not in res.output
    assert f"{lib.package}-1.1.0-py3-none-any.whl" not in index_files(lib.name)


# -- the semver gate -------------------------------------------------------------------------------
def test_additive_change_with_a_minor_bump_is_published(lib_v1_v11):
    lib, res = lib_v1_v11
    _ok(res)
    assert "added to __all__: release" in res.output
    assert "minor release: ok" in res.output
    assert f"{lib.name} 1.1.0 published" in res.output
    assert f"{lib.package}-1.1.0-py3-none-any.whl" in index_files(lib.name)


def test_additions_in_a_patch_release_are_refused(stack, lib_v1_v11, tmp_path):
    lib, _ = lib_v1_v11
    before = index_files(lib.name)
    patch = lib.copy(tmp_path / lib.name).write("1.1.1", "additive-more", changelog=("1.0.0", "1.1.0", "1.1.1"))
    res = stack.release(patch.path)
    _refused(res, "1.1.1 is a patch release, but it adds to the public API (restock)",
             f"release it as {lib.name} 1.2.0")
    assert index_files(lib.name) == before


def test_breaking_change_needs_a_major_bump(stack, new_lib):
    lib = new_lib().write("1.0.0")
    _ok(stack.release(lib.path))
    before = index_files(lib.name)

    lib.write("1.1.0", "breaking", changelog=("1.0.0", "1.1.0"))
    res = stack.release(lib.path)
    _refused(res, "1.1.0 is a minor release, but the public API has", "which need a major one",
             f"release it as {lib.name} 2.0.0")
    # Each breaking change is listed with file and line: the renamed parameter where the new
    # signature is, the dropped error class where the published version exported it.
    assert re.search(r"src/\S+/service\.py:1: reserve\(qty\): Parameter was removed", res.output), res.output
    assert re.search(rf"{lib.package}/__init__\.py \(in {lib.name} 1\.0\.0\):\d+: OutOfStock: public name removed "
                     r"from __all__", res.output), res.output
    assert "[5/6]" not in res.output
    assert index_files(lib.name) == before

    # The major release also brings a contract migration: both gates accept a major bump.
    lib.write("2.0.0", "breaking", changelog=("1.0.0", "2.0.0"), contract=True)
    res = stack.release(lib.path)
    _ok(res)
    assert res.output.count("major release: ok") == 2, res.output
    assert "contract migration rm0002" in res.output
    assert f"{lib.name} 2.0.0 published" in res.output
    assert f"{lib.package}-2.0.0-py3-none-any.whl" in index_files(lib.name)


def test_contract_migration_needs_a_major_bump(stack, lib_v1_v11, tmp_path):
    lib, _ = lib_v1_v11
    before = index_files(lib.name)
    minor = lib.copy(tmp_path / lib.name).write("1.2.0", "additive", changelog=("1.0.0", "1.1.0", "1.2.0"),
                                                contract=True)
    res = stack.release(minor.path)
    _refused(res, "1.2.0 is a minor release, but it adds contract migration(s) rm0002",
             f"release it as {lib.name} 2.0.0")
    assert "rm0002_drop_legacy.py" in res.output
    assert "public API unchanged" in res.output  # step 3 passed; step 4 refused
    assert "[5/6]" not in res.output
    assert index_files(lib.name) == before


# -- reproducible builds --------------------------------------------------------------------------
def _git_files(repo: Path, sub: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                          "--", sub], check=True, capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and (repo / p).is_file()]


def test_two_builds_of_one_tree_are_byte_identical(repo_root, tmp_path, test_env):
    """Two checkouts of acme-catalog made at different times (other mtimes, other paths) build to the
    same sha256, and to the bytes `make test` published from the working tree."""
    sys.path.insert(0, str(repo_root / "deploy"))
    try:
        from acme_stack import fingerprint, publish
        from acme_stack.config import Layout
    finally:
        sys.path.pop(0)
    shas = []
    for n, mtime in enumerate((1_000_000_000, 1_700_000_000)):
        checkout = tmp_path / f"checkout-{n}"
        for rel in _git_files(repo_root, "libs/acme-catalog"):
            dest = checkout / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo_root / rel, dest)
            os.utime(dest, (mtime, mtime))
        layout = Layout(root=checkout, run=tmp_path / f"run-{n}", tools=Path(test_env["ACME_TEST_TOOLS_BIN"]).parent)
        files = publish.build(layout, checkout / "libs" / "acme-catalog", tmp_path / f"dist-{n}",
                              tmp_path / f"build-{n}.log")
        shas.append({f.name: fingerprint.sha256_file(f) for f in files})
    assert shas[0] == shas[1]
    assert any(name.endswith(".whl") for name in shas[0]) and any(name.endswith(".tar.gz") for name in shas[0])
    served = index_files("acme-catalog")
    assert {name: served.get(name) for name in shas[0]} == shas[0], "the index holds a different build"


def test_release_builds_twice_and_publishes_exactly_the_checked_bytes(lib_v1_v11):
    lib, res = lib_v1_v11
    printed = dict(re.findall(r"(\S+\.(?:whl|tar\.gz))  sha256 ([0-9a-f]{64})  \(identical in both builds\)",
                              res.output))
    assert len(printed) == 2, res.output
    served = index_files(lib.name)
    assert {name: served[name] for name in printed} == printed


# -- adopting a version: make bump, make deps ------------------------------------------------------
@pytest.fixture
def service(stack, lib_v1_v11):
    """A throwaway service in the throwaway root that pins the test library at 1.0.0."""
    lib, _ = lib_v1_v11
    svc = stack.root / "services" / "demo"
    if svc.exists():
        shutil.rmtree(svc)
    svc.mkdir(parents=True)
    (svc / "pyproject.toml").write_text(f'''[build-system]
requires = ["hatchling==1.33.0"]
build-backend = "hatchling.build"

[project]
name = "demo-service"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = [
    "{lib.name}==1.0.0",
]
''')
    _ok(stack.run("bump", "--service", "demo", "--lib", lib.name, "--version", "1.0.0"))
    yield svc, lib
    shutil.rmtree(svc)


def _lock_hashes(lock: Path, name: str) -> tuple[str, set[str]]:
    text = lock.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{name}=="))
    return line.split("==")[1].split()[0], set(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))


def test_bump_pins_and_relocks_a_published_version_with_its_hashes(stack, service):
    svc, lib = service
    res = stack.run("bump", "--service", "demo", "--lib", lib.name, "--version", "1.1.0")
    _ok(res)
    assert f'"{lib.name}==1.1.0"' in (svc / "pyproject.toml").read_text()
    lock = svc / "requirements.lock"
    version, hashes = _lock_hashes(lock, lib.name)
    served = index_files(lib.name)
    assert version == "1.1.0"
    assert hashes == {sha for name, sha in served.items() if "-1.1.0" in name}
    assert "://" not in lock.read_text()  # no index URL, no credentials in a committed file
    assert f"{lib.name} 1.0.0 -> 1.1.0" in res.output


def test_bump_to_a_version_not_on_the_index_changes_nothing(stack, service):
    svc, lib = service
    before = {p.name: p.read_bytes() for p in svc.iterdir()}
    res = stack.run("bump", "--service", "demo", "--lib", lib.name, "--version", "9.9.9")
    _refused(res, f"{lib.name} 9.9.9 is not on the index", f"make release LIB={lib.name}")
    assert {p.name: p.read_bytes() for p in svc.iterdir()} == before


def test_deps_shows_who_pins_what_and_newer_versions(stack, service):
    svc, lib = service
    res = stack.run("deps", "--json")
    _ok(res)
    report = json.loads(res.stdout)
    pin = report["services"]["demo"][lib.name]
    assert pin["pinned"] == "1.0.0" and pin["direct"] is True
    assert pin["newer"] == [{"version": "1.1.0", "bump": "minor"}]
    assert report["libraries"][lib.name]["published"] == ["1.1.0", "1.0.0"]
    assert report["libraries"][lib.name]["used_by"] == {"demo": "1.0.0"}

    text = stack.run("deps")
    _ok(text)
    assert re.search(rf"^{re.escape(lib.name)}\s+1\.0\.0 \*\s+1\.1\.0", text.stdout, re.M), text.stdout
    assert f"demo: {lib.name} 1.0.0 -> 1.1.0 (minor)" in text.stdout

    _ok(stack.run("bump", "--service", "demo", "--lib", lib.name, "--version", "1.1.0"))
    after = json.loads(stack.run("deps", "--json").stdout)
    assert after["services"]["demo"][lib.name] == {"pinned": "1.1.0", "direct": True, "newer": []}


def test_release_without_a_library_says_how_to_call_it(stack):
    res = stack.run("release")
    _refused(res, "usage: make release LIB=acme-<domain>")
