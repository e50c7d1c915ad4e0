"""The tools venv: uv, pypiserver, build, twine, hatchling, psycopg at pinned, hash-checked versions.

This is the bootstrap step, so it is the only install that goes through the machine's normal pip
configuration (and therefore whatever index the machine is set up to use)."""
from __future__ import annotations

import fcntl
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from . import fingerprint, proc
from .config import Layout
from .ui import StackError

REQUIREMENTS = Path("deploy/requirements-tools.txt")
_STAMP = ".acme-fingerprint"


@contextmanager
def locked(path: Path):
    """Serialise concurrent `make up` / `make test` runs that share one tools venv."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _wanted(layout: Layout) -> str:
    req = layout.root / REQUIREMENTS
    if not req.is_file():
        raise StackError(f"{REQUIREMENTS} is missing")
    return fingerprint.sha256_text(fingerprint.sha256_file(req), sys.version, sys.executable)


def is_current(layout: Layout) -> bool:
    stamp = layout.tools / _STAMP
    return (stamp.is_file() and stamp.read_text().strip() == _wanted(layout)
            and (layout.tools_bin / "uv").exists() and (layout.tools_bin / "python").exists())


def ensure(layout: Layout, log: Path) -> str:
    """Create or refresh the tools venv; returns a short status for the progress line."""
    with locked(layout.tools.parent / ".tools.lock"):
        if is_current(layout):
            return "already up, nothing to do"
        if layout.tools.exists():
            shutil.rmtree(layout.tools)
        proc.run([sys.executable, "-m", "venv", layout.tools], log=log, what="creating the tools venv")
        proc.run(
            [layout.tools_bin / "python", "-m", "pip", "install", "--disable-pip-version-check",
             "--require-hashes", "-r", layout.root / REQUIREMENTS],
            log=log, what="installing deploy/requirements-tools.txt", timeout=900,
        )
        (layout.tools / _STAMP).write_text(_wanted(layout) + "\n")
        return "installed"


def python(layout: Layout) -> Path:
    return layout.tools_bin / "python"


def bin(layout: Layout, name: str) -> Path:
    return layout.tools_bin / name
