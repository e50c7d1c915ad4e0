"""Services x libraries: what each service runs (its pins) and what the private index offers beyond them.

Pins: a service installs exactly its hash-locked requirements, and every instance registers the versions
it actually imported (acme_platform.registry), so the registry is the truth about what runs, with no
copy of the lock files to go stale. Several versions of one library across a service's instances means
a rollout is in progress.

Newer versions: the index's PEP 503 simple API (`<index>/<package>/` lists its files), read with the
read-only deploy login from ACME_CONSOLE_INDEX_URL (environment only: it carries a password). Unset,
the page says so and shows the pins alone. Answers are cached per process for a minute.
"""
from __future__ import annotations

import base64
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict

from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename,
                             parse_wheel_filename)
from packaging.version import InvalidVersion, Version

INDEX_ENV = "ACME_CONSOLE_INDEX_URL"
CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, list[str] | str]] = {}
_lock = threading.Lock()


def bump_kind(current: str, newer: str) -> str:
    """"major", "minor" or "patch" (anything past the third component, pre/post releases: "patch")."""
    a, b = Version(current).release + (0, 0, 0), Version(newer).release + (0, 0, 0)
    if b[0] != a[0]:
        return "major"
    if b[1] != a[1]:
        return "minor"
    return "patch"


def _versions_in(html: str, package: str) -> list[str]:
    """Versions named by the distribution files a simple-API page links to."""
    wanted = canonicalize_name(package)
    found: set[Version] = set()
    for filename in re.findall(r">\s*([^<>\s]+)\s*</a>", html):
        try:
            if filename.endswith(".whl"):
                name, version, _build, _tags = parse_wheel_filename(filename)
            elif filename.endswith((".tar.gz", ".zip")):
                name, version = parse_sdist_filename(filename)
            else:
                continue
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        if name == wanted:
            found.add(version)
    return [str(v) for v in sorted(found)]


def index_versions(package: str, index_url: str, *, timeout: float = 3.0) -> list[str]:
    """Every version of `package` on the index (raises OSError when it cannot be read)."""
    parts = urllib.parse.urlsplit(index_url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    url = urllib.parse.urlunsplit(parts._replace(netloc=host)).rstrip("/") + f"/{canonicalize_name(package)}/"
    req = urllib.request.Request(url, headers={"Accept": "text/html"})
    if parts.username:
        login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        req.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:   # our own index (http on loopback, or https)
            return _versions_in(resp.read().decode("utf-8", "replace"), package)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise OSError(f"index answered {exc.code}") from None


def _cached_versions(package: str, index_url: str) -> list[str] | str:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(package)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    try:
        value: list[str] | str = index_versions(package, index_url)
    except (OSError, ValueError) as exc:
        value = f"index unreachable ({type(exc).__name__})"   # never the URL: it carries the login
    with _lock:
        _cache[package] = (now, value)
    return value


def report(instances: list[dict], index_url: str | None = None) -> dict:
    index_url = index_url if index_url is not None else os.environ.get(INDEX_ENV, "").strip()
    pins: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for inst in instances:
        for package, version in inst["packages"].items():
            pins[inst["service"]][package].add(version)
    libraries = sorted({p for libs in pins.values() for p in libs})
    available = {p: (_cached_versions(p, index_url) if index_url else "index not configured") for p in libraries}
    rows = []
    for service in sorted(pins):
        for package in sorted(pins[service]):
            running = sorted(pins[service][package], key=_v)
            offered = available[package]
            newer = []
            if isinstance(offered, list) and running:
                oldest = running[0]
                newer = [{"version": v, "bump": bump_kind(oldest, v)} for v in offered if _v(v) > _v(running[-1])]
            rows.append({"service": service, "package": package, "pinned": running, "newer": newer,
                         "index": offered if isinstance(offered, str) else "ok"})
    return {"index_configured": bool(index_url), "services": sorted(pins), "libraries": libraries, "rows": rows}


def _v(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")
