"""make dev venvs: third-party packages from the service's lock (hash-checked, from the private index),
libraries and the service editable from the working tree.

`.run/venvs-dev/<service>`, apart from make up's `.run/venvs/<service>`, so switching back and forth
rebuilds nothing. The acme-* blocks of the lock are left out and every library the lock pins is
installed with `-e libs/<lib> --no-deps` instead: a saved file is what the next worker imports. The
versions the editable installs report carry `+dev` at run time (acme_platform.devmode), so the
registry and `acmectl status` never mistake this code for a release.
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import fingerprint, lockfile, projects, venvs
from .config import Layout
from .index import Index
from .ui import StackError

DEV_VENVS = "venvs-dev"
# What a make dev service gets on top of make up's environment: fresh workers on every saved source file
# (acme_platform.gunicorn_conf), and one worker per service, so a save restarts three processes, not five,
# on the developer's machine.
SERVICE_ENV = {"ACME_WEB_RELOAD": "1", "ACME_WEB_WORKERS": "1"}


def venv_dir(layout: Layout, name: str) -> Path:
    return layout.run / DEV_VENVS / name


def editable_libs(layout: Layout, lock: Path) -> list[projects.Project]:
    """The libs/ projects standing in for the lock's acme-* pins (refusing a pin with no source here)."""
    by_name = {lockfile.canonical(lib.name): lib for lib in projects.libs(layout.root)}
    pinned = [b.name for b in lockfile.blocks(lock.read_text()) if b.is_acme]
    missing = [name for name in pinned if name not in by_name]
    if missing:
        raise StackError(f"{lock} pins {', '.join(missing)}, which libs/ does not hold: make dev cannot "
                         "install it from the working tree")
    return [by_name[name] for name in pinned]


def ensure_service(layout: Layout, svc: projects.Project, idx: Index, log: Path) -> tuple[Path, str]:
    venv = venv_dir(layout, svc.dirname)
    lock = venvs.checked_lock(svc)
    libs = editable_libs(layout, lock)
    # Sources need no reinstall (they are imported from the tree); the metadata (version, entry
    # points, dependencies) does, so the fingerprint covers the pyprojects and the lock.
    want = fingerprint.sha256_text(
        lock.read_text(), *(p.joinpath("pyproject.toml").read_text() for p in [svc.path, *(lib.path for lib in libs)]),
        sys.version, sys.executable, "dev")
    if venvs.stamp(venv) == want and venvs.py(venv).exists():
        return venv, "already up, nothing to do"
    venvs.create(layout, venv, log)
    third_party = [b for b in lockfile.blocks(lock.read_text()) if not b.is_acme]
    filtered = venv / "requirements-third-party.lock"
    filtered.write_text(lockfile.render(third_party, f"# {svc.dirname}'s requirements.lock without acme-* (make dev)\n"))
    venvs.uv(layout, "pip", "sync", "--no-config", "--python", venvs.py(venv), "--require-hashes", filtered,
             log=log, what=f"installing the third-party part of services/{svc.dirname}/requirements.lock", idx=idx)
    editables = [a for p in [*(lib.path for lib in libs), svc.path] for a in ("-e", p)]
    venvs.pip_install(layout, venv, idx, ["--no-deps", *editables], log=log,
                      what=f"installing libs/ and services/{svc.dirname} editable")
    venvs.write_stamp(venv, want)
    return venv, f"installed ({', '.join(lib.name for lib in libs)}, {svc.name} editable from the working tree)"
