"""Service and test venvs built with uv from the private index only.

Every uv call here runs with --no-config and without inherited UV_*/PIP_* variables (only
UV_DEFAULT_INDEX, set to our index), so neither the
machine's pip config nor a developer's uv.toml can add another index: what is installed is
exactly what our index serves and the lock's hashes allow. Nothing is ever installed from libs/
paths for services; they get the published wheels, like production would.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from . import fingerprint, mirror, proc, projects, tools
from .config import Layout
from .index import Index
from .ui import StackError

_STAMP = ".acme-fingerprint"


def uv_env(idx: Index | None = None) -> dict[str, str]:
    """The environment of every uv call: no UV_*/PIP_* from the caller, then only what we set.
    The index (with the read-only deploy login) goes in UV_DEFAULT_INDEX (uv's documented equivalent
    of --default-index/--index-url), never on the command line, where `ps` would show the password."""
    # Never let uv fetch an interpreter: the venv must use the machine's python3.
    extra = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    if idx is not None:
        extra["UV_DEFAULT_INDEX"] = idx.simple_url_with_auth()
    return proc.isolated_env(extra)


def uv(layout: Layout, *args, log: Path, what: str, cwd: Path | None = None, timeout: float = 900,
       idx: Index | None = None):
    return proc.run([tools.bin(layout, "uv"), *args], log=log, what=what, env=uv_env(idx), cwd=cwd, timeout=timeout)


def create_args(venv: Path) -> list:
    # --clear: a venv we rebuild starts empty; sys.executable is the python3 that runs the stack.
    return ["venv", "--no-config", "--clear", "--quiet", "--python", sys.executable, venv]


def install_args(venv: Path, args: list) -> list:
    return ["pip", "install", "--no-config", "--python", py(venv), *args]


def create(layout: Layout, venv: Path, log: Path) -> None:
    uv(layout, *create_args(venv), log=log, what=f"creating venv {venv.name}")


def py(venv: Path) -> Path:
    return venv / "bin" / "python"


def pip_install(layout: Layout, venv: Path, idx: Index, args: list, *, log: Path, what: str, cwd: Path | None = None):
    uv(layout, *install_args(venv, args), log=log, what=what, cwd=cwd, idx=idx)


def checked_lock(svc: projects.Project) -> Path:
    """The service's lock, refusing a missing or placeholder one: syncing an empty lock would
    "succeed" with nothing installed and fail much later, far from the cause."""
    lock = svc.path / "requirements.lock"
    where = f"services/{svc.dirname}/requirements.lock"
    if not lock.is_file():
        raise StackError(f"{where} is missing: run `make relock`")
    if not mirror.parse_lock(lock):
        raise StackError(f"{where} pins nothing (a placeholder?): run `make relock`")
    return lock


def acme_pins(lock: Path) -> list[str]:
    return sorted(set(re.findall(r"^(acme-[A-Za-z0-9._-]+)==", lock.read_text(), re.M)))


def stamp(venv: Path) -> str:
    try:
        return (venv / _STAMP).read_text().strip()
    except OSError:
        return ""


def write_stamp(venv: Path, value: str) -> None:
    (venv / _STAMP).write_text(value + "\n")


def service_fingerprint(layout: Layout, svc: projects.Project) -> str:
    return fingerprint.sha256_text(
        fingerprint.source_tree(layout.root, svc.path), sys.version, sys.executable,
    )


def ensure_service(layout: Layout, svc: projects.Project, idx: Index, venv: Path, log: Path) -> str:
    """Venv = exactly services/<name>/requirements.lock + the service package (no deps)."""
    lock = checked_lock(svc)
    want = service_fingerprint(layout, svc)
    if stamp(venv) == want and py(venv).exists():
        return "already up, nothing to do"
    if not py(venv).exists():
        create(layout, venv, log)
    for args, what in service_install_steps(svc, venv, lock):
        uv(layout, *args, log=log, what=what, idx=idx)
    (venv / _STAMP).write_text(want + "\n")
    return "installed"


def sync_lock_step(venv: Path, lock: Path, what: str) -> tuple[list, str]:
    """The uv call installing exactly a hash-checked lock from our index (make up, make test and the bench)."""
    # uv may hold a cached /simple/ page from before our latest publish: refresh just our own
    # packages (third-party versions only change together with the lock, which names them).
    refresh = [a for name in acme_pins(lock) for a in ("--refresh-package", name)]
    # ...and reinstall them: sync keeps an installed package whose version matches, so an unreleased
    # library rebuilt under the same version would otherwise stay stale in the venv.
    refresh += [a for name in acme_pins(lock) for a in ("--reinstall-package", name)]
    # sync (not install) so packages dropped from the lock leave the venv too.
    return ["pip", "sync", "--no-config", "--python", py(venv), "--require-hashes", *refresh, lock], what


def service_install_steps(svc: projects.Project, venv: Path, lock: Path) -> list[tuple[list, str]]:
    """The uv calls (arguments, what) that install a service as production would: the hash-checked lock,
    then the service without dependencies. `make up` runs them; so does `make test` (under its tracker)."""
    return [
        sync_lock_step(venv, lock, f"installing services/{svc.dirname}/requirements.lock"),
        # The service itself, built with hatchling from our index. --reinstall-package also refreshes
        # uv's build cache, which otherwise only notices changes to pyproject.toml, not to src/.
        (install_args(venv, ["--no-deps", "--reinstall-package", svc.name, svc.path]),
         f"installing service {svc.dirname}"),
    ]


def ensure_platform(layout: Layout, libs: list[projects.Project], idx: Index, venv: Path, log: Path,
                    published: dict) -> str:
    """All libraries at their current versions, from the index (used for migrations until services exist)."""
    pins = [f"{lib.name}=={lib.version}" for lib in libs]
    want = fingerprint.sha256_text(*pins, json.dumps(published, sort_keys=True), sys.version, sys.executable)
    if stamp(venv) == want and py(venv).exists():
        return "already up, nothing to do"
    create(layout, venv, log)
    pip_install(layout, venv, idx, ["--reinstall", *pins], log=log, what="installing the libraries from the index")
    (venv / _STAMP).write_text(want + "\n")
    return "installed"

