"""Working-tree code (`make dev`): how a process tells that a package runs from an editable install.

`make dev` installs the libraries and the service editable from the working tree (PEP 660), so a saved
change serves without a release. Such a process must not pass for a released one: its library versions
read `1.1.0+dev` (a PEP 440 local version) in the instance registry, so `acmectl status` and the skew
guard see it, `/healthz` answers `"dev": true`, and the log opens with a banner naming the packages.

The signal is the installer's own record, PEP 610's `direct_url.json` with `dir_info.editable`, which
pip and uv write for every editable install and never for a wheel from an index: no environment
variable can claim (or hide) it.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

DEV_SUFFIX = "+dev"


@lru_cache(maxsize=None)
def is_editable(distribution: str) -> bool:
    """True when `distribution` is installed editable (from a working tree), per its direct_url.json."""
    try:
        raw = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return False
    if not raw:
        return False
    try:
        return bool(json.loads(raw).get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False


def running_version(distribution: str) -> str:
    """The installed version, with `+dev` appended for an editable install ("0+unknown" if absent)."""
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"
    return version + DEV_SUFFIX if is_editable(distribution) and "+" not in version else version


def editable_packages(distributions) -> dict[str, str]:
    """{distribution: version+dev} of those among `distributions` that run from a working tree."""
    return {d: running_version(d) for d in distributions if is_editable(d)}


def announce(service: str, packages: dict[str, str]) -> None:
    """The log banner of a process running working-tree code (called once per app, by create_app)."""
    if packages:
        log.warning("%s runs WORKING-TREE code (make dev), not released packages: %s", service,
                    ", ".join(f"{name}={version}" for name, version in sorted(packages.items())),
                    extra={"dev": True})


def warn_pending_migrations(service: str, missing: dict) -> None:
    """Working-tree code may carry migrations the database lacks: say so at start, with the fix.
    (Only in make dev; /readyz answers 503 platform.migrations_pending either way.) The caller finds
    them (migrations.runner.pending_revisions): the runner sits above this module, so no import circle."""
    if missing:
        log.warning("%s: migrations of the working tree are not applied (%s): run `make dev` again, or "
                    "`. .run/acme.env && .run/venvs-dev/%s/bin/acmectl migrate`", service,
                    ", ".join(f"{domain}: {revs}" for domain, revs in sorted(missing.items())), service)


def editable_roots() -> list[Path]:
    """The working-tree folders of every editable install in this environment (direct_url.json's url)."""
    roots = []
    for dist in metadata.distributions():
        raw = dist.read_text("direct_url.json")
        try:
            info = json.loads(raw) if raw else {}
        except ValueError:
            continue
        if info.get("dir_info", {}).get("editable") and str(info.get("url", "")).startswith("file://"):
            roots.append(Path(unquote(urlparse(info["url"]).path)))
    return sorted(set(roots))


def source_mtimes(roots: list[Path]) -> dict[str, float]:
    """mtime of every .py file (and migration) under the roots' src/ (or the root itself)."""
    found: dict[str, float] = {}
    for root in roots:
        base = root / "src" if (root / "src").is_dir() else root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
            for name in filenames:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    try:
                        found[path] = os.stat(path).st_mtime
                    except OSError:
                        pass
    return found


class SourceWatcher:
    """Polls the working-tree sources of the editable installs and calls `on_change(path)` once per change
    (a file saved, added or removed). Runs in the gunicorn master under make dev (gunicorn_conf)."""

    def __init__(self, on_change: Callable[[str], None], interval: float = 0.5, roots: list[Path] | None = None):
        self.roots = editable_roots() if roots is None else roots
        self.on_change = on_change
        self.interval = interval
        self._stop = threading.Event()
        self._seen = source_mtimes(self.roots)

    def check(self) -> str | None:
        now = source_mtimes(self.roots)
        changed = next((p for p in sorted(set(now) | set(self._seen)) if now.get(p) != self._seen.get(p)), None)
        self._seen = now
        return changed

    def run(self, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Poll until stop() or until keep_going() is false (run it in a thread or a greenlet)."""
        while not self._stop.wait(self.interval) and keep_going():
            changed = self.check()
            if changed is not None:
                self.on_change(changed)

    def stop(self) -> None:
        self._stop.set()
