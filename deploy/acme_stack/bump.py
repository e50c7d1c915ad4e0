"""`make bump SERVICE=<name> LIB=acme-<domain> VERSION=<v>`: adopt a published library version.

Rewrites the service's exact pin in services/<name>/pyproject.toml and re-locks (hashes) its
requirements.lock against the private index only, with the same compile `make relock` uses; the
pins that moved are printed. All or nothing: if the version is not on the index or does not
resolve with the service's other pins, neither file changes. `make up` then rebuilds and restarts
just that service (its venv fingerprint covers the lock).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import urllib.parse
from pathlib import Path

from . import mirror, projects, relock, target, tools, versions
from .config import Layout
from .index import normalize
from .ui import StackError, rel


def _pin_pattern(lib: str) -> re.Pattern:
    # "acme-catalog==1.0.0" (any spelling of the name, optional extras and marker) inside quotes.
    name = r"[-_.]+".join(re.escape(p) for p in re.split(r"[-_.]+", lib))
    return re.compile(rf"""(?P<q>["'])(?P<name>{name})(?P<extras>\s*\[[^\]]*\])?\s*==\s*(?P<ver>[^"';\s]+)"""
                      rf"""(?P<rest>\s*(?:;[^"']*)?)(?P=q)""", re.I)


def _find_service(root: Path, name: str) -> projects.Project:
    svcs = {s.dirname: s for s in projects.services(root)}
    if name not in svcs:
        raise StackError(f"no service {name!r} (services: {', '.join(sorted(svcs)) or 'none'})")
    return svcs[name]


def _lock_pins(lock: Path) -> dict[str, str]:
    return {p.name: p.version for p in mirror.parse_lock(lock)} if lock.is_file() else {}


def bump(layout: Layout, service: str, lib: str, version: str) -> int:
    if not (service and lib and version):
        raise StackError("usage: make bump SERVICE=<service> LIB=acme-<domain> VERSION=<version>")
    lib = normalize(lib)
    svc = _find_service(layout.root, service)
    pyproject = svc.path / "pyproject.toml"
    lock = svc.path / "requirements.lock"
    where = rel(pyproject, layout.root)
    text = pyproject.read_text()
    pins = list(_pin_pattern(lib).finditer(text))
    if not pins:
        raise StackError(f"{where} does not pin {lib} (add \"{lib}=={version}\" to [project] dependencies; "
                         f"services pin every acme-* library they deploy)")
    versions.parse(version)
    tools.ensure(layout, layout.log("tools"))
    idx = target.select(layout)
    published = versions.published(idx, lib)
    if version not in published:
        have = ", ".join(str(v) for v in versions.sorted_versions(published)) or "none"
        raise StackError(f"{lib} {version} is not on the index {idx.simple_url} (published: {have}): "
                         f"release it first with `make release LIB={lib}`")
    before = _lock_pins(lock)
    new_text = _pin_pattern(lib).sub(lambda m: f"{m['q']}{m['name']}{m['extras'] or ''}=={version}{m['rest']}{m['q']}",
                                     text)
    log = layout.log("bump")
    with tempfile.TemporaryDirectory(prefix="acme-bump-") as tmp:
        # From scratch, like `make relock`: an old lock given to uv as the output file would keep its
        # hashes for every pin it keeps. Nothing else drifts: services pin every acme-* library
        # exactly and the index mirrors one version of each third-party package.
        out = Path(tmp) / "requirements.lock"
        pyproject.write_text(new_text)
        try:
            relock._compile(layout, pyproject, out, log, ["--refresh-package", lib],
                            f"re-locking services/{svc.dirname} with {lib}=={version}", idx=idx)
            secrets = [idx.password, urllib.parse.quote(idx.password, safe=""), f"{idx.user}:"]
            relock._assert_clean(out, [s for s in secrets if s and s != ":"], layout.root)
        except StackError as e:
            pyproject.write_text(text)  # all or nothing
            raise StackError(f"re-locking services/{svc.dirname} with {lib}=={version} failed (uv's reason above: "
                             f"usually another pin that does not accept this version); nothing was changed",
                             e.log, detail=e.detail) from None
        shutil.copyfile(out, lock)
    after = _lock_pins(lock)
    moved = [f"{n} {before.get(n, '-')} -> {after.get(n, '-')}" for n in sorted(before.keys() | after.keys())
             if before.get(n) != after.get(n)]
    print(f"services/{svc.dirname}: {lib} pinned to {version} in pyproject.toml and requirements.lock")
    for line in moved:
        print(f"  {line}")
    if not moved:
        print("  requirements.lock already had it: nothing moved")
    print(f"next: `make up` rebuilds and restarts only {svc.dirname}; commit {rel(pyproject, layout.root)} "
          f"and {rel(lock, layout.root)}")
    return 0
