"""Fixtures for the deploy tooling's own tests (`make test` runs this folder as the suite `deploy/tests`).

They drive deploy/acme_stack for real: `make check` on throwaway copies of the tree, `make up`/`down` in
throwaway clones, `make release` against a throwaway index, the index's upload policy, the PostgreSQL
server choice. `make test` provides the environment (see tests/conftest.py for the variables):
  ACME_TEST_DATABASE_URL, ACME_TEST_INDEX_URL (+ _UPLOAD_URL, _USER, _PASSWORD, _TEAMS),
  ACME_TEST_TOOLS_BIN, ACME_TEST_SERVICE_VENVS, ACME_REPO_ROOT.

The small helpers the tests share (free ports, HTTP status, a service's [tool.acme.service]) are the
orchestrator's own (acme_stack.proc / acme_stack.projects), not copies of them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1]
if str(DEPLOY) not in sys.path:
    sys.path.insert(0, str(DEPLOY))  # acme_stack is stdlib-only: importable by any python3 >= 3.11

from acme_stack import proc, projects  # noqa: E402 - importable only once deploy/ is on the path

REQUIRED = ("ACME_TEST_DATABASE_URL", "ACME_TEST_INDEX_URL", "ACME_TEST_TOOLS_BIN", "ACME_TEST_SERVICE_VENVS")


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `make test`", pytrace=False)
    return value


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(os.environ.get("ACME_REPO_ROOT") or DEPLOY.parent).resolve()


@pytest.fixture(scope="session")
def test_env() -> dict[str, str]:
    return {name: _env(name) for name in REQUIRED}


@pytest.fixture(scope="session")
def tools_venv(test_env) -> Path:
    """make test's tools venv (uv, ruff, mypy, lint-imports, check-jsonschema, ...)."""
    return Path(test_env["ACME_TEST_TOOLS_BIN"]).parent


def free_port() -> int:
    return proc.free_port()


def http_status(url: str, timeout: float = 2.0) -> int:
    """The HTTP status of a GET, 0 when nothing answers."""
    return proc.http_get(url, timeout=timeout)[0]


def service_spec(repo_root: Path, name: str) -> dict:
    return projects.load(repo_root / "services" / name).service


def files_of_a_clone(root: Path) -> list[str]:
    """The files a commit of the working tree would contain: tracked + untracked-not-ignored."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout.decode()
    return [rel for rel in out.split("\0") if rel and (root / rel).is_file()]


def copy_tree(src: Path, dest: Path) -> Path:
    """A throwaway copy of the tree as a clone would have it (fresh mtimes, modes kept)."""
    for rel in files_of_a_clone(src):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel)
        shutil.copymode(src / rel, dest / rel)
    return dest


@pytest.fixture
def tree(repo_root, tmp_path) -> Path:
    return copy_tree(repo_root, tmp_path / "tree")


def plant(path: Path, text: str, *, after_line: int | None = None) -> int:
    """Insert `text` (one line) after `after_line` (default: at the end); returns its line number."""
    lines = path.read_text().splitlines()
    at = len(lines) if after_line is None else after_line
    lines.insert(at, text)
    path.write_text("\n".join(lines) + "\n")
    return at + 1


def make_env(tools_venv: Path) -> dict[str, str]:
    """`make check`'s environment: the orchestrator's python3 (PATH without this runner's venv), and make
    test's tools venv, which `check` then uses as it is (never rebuilds a shared venv)."""
    venv = os.environ.get("VIRTUAL_ENV", "")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if not venv or not p.startswith(venv))
    env["ACME_TOOLS_VENV"] = str(tools_venv)
    return env


def stack_command(root: Path, tools_venv: Path, command: str = "check") -> subprocess.CompletedProcess:
    """`python3 deploy/stack.py <command>` in `root`, what `make <command>` runs."""
    env = make_env(tools_venv)
    python = shutil.which("python3", path=env["PATH"]) or sys.executable
    return subprocess.run([python, "deploy/stack.py", command], cwd=root, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
