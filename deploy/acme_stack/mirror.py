"""Third-party wheels from deploy/index/mirror.lock, cached in a wheelhouse and served by our index.

Downloading is the one step (besides the tools bootstrap) that goes through the machine's normal
pip configuration; every hash is checked against the lock, so where a wheel came from does not
matter. A persistent wheelhouse (~/.cache/acme-platform/wheelhouse) makes repeat runs offline.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import fingerprint, index, proc, tools
from .config import Layout
from .ui import StackError

LOCK = Path("deploy/index/mirror.lock")
_MANIFEST = "mirrored.json"


@dataclass
class Pin:
    name: str
    version: str
    hashes: set[str]
    line: str  # the requirement as written (may carry an environment marker)


def parse_lock(path: Path) -> list[Pin]:
    """Parse `uv pip compile --generate-hashes` output: `name==ver ; marker \\` + `--hash=` lines."""
    pins: list[Pin] = []
    text = path.read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        hashes = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        req = re.sub(r"\s*--hash=\S+", "", line).strip()
        m = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)", req)
        if not m:
            raise StackError(f"{path}: cannot parse {req!r} (expected name==version with hashes)")
        if not hashes:
            raise StackError(f"{path}: {m.group(1)} has no --hash (regenerate with `make relock`)")
        pins.append(Pin(index.normalize(m.group(1)), m.group(2), hashes, req))
    return pins


def wheelhouse() -> Path:
    override = os.environ.get("ACME_WHEELHOUSE", "").strip()
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "acme-platform" / "wheelhouse"


def _hash_cache(house: Path) -> dict[str, Path]:
    """sha256 -> file for everything in the wheelhouse (sizes+mtimes cached to skip rehashing)."""
    memo_path = house / ".hashes.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    result, fresh = {}, {}
    for f in house.glob("*.whl"):
        st = f.stat()
        key = f"{st.st_size}:{st.st_mtime_ns}"
        entry = memo.get(f.name)
        sha = entry[1] if entry and entry[0] == key else fingerprint.sha256_file(f)
        fresh[f.name] = [key, sha]
        result[sha] = f
    if fresh != memo:
        try:
            memo_path.write_text(json.dumps(fresh, indent=0, sort_keys=True))
        except OSError:
            pass  # the memo is only an optimisation
    return result


def _link(src: Path, dest: Path) -> None:
    if dest.exists():
        if dest.stat().st_size == src.stat().st_size and fingerprint.sha256_file(dest) == fingerprint.sha256_file(src):
            return
        dest.unlink()
    try:
        os.link(src, dest)  # hardlink: no extra disk, no copy time
    except OSError:
        shutil.copy2(src, dest)  # different filesystem


def sync(layout: Layout, log: Path) -> str:
    """Make the index hold exactly the locked wheels (plus whatever we published). Returns status."""
    lock = layout.root / LOCK
    if not lock.is_file():
        raise StackError(f"{LOCK} is missing: run `make relock` to generate it")
    pins = parse_lock(lock)
    packages = index.packages_dir(layout)
    packages.mkdir(parents=True, exist_ok=True)
    manifest_path = layout.index / _MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    lock_hash = fingerprint.sha256_file(lock)
    if manifest.get("lock") == lock_hash and all((packages / f).is_file() for f in manifest.get("files", [])):
        return f"already up, nothing to do ({len(pins)} locked packages)"

    house = wheelhouse()
    house.mkdir(parents=True, exist_ok=True)
    with tools.locked(house / ".lock"):  # `make up` and `make test` may share the wheelhouse
        return _fill(layout, log, pins, house, packages, manifest, manifest_path, lock_hash)


def _fill(layout, log, pins, house, packages, manifest, manifest_path, lock_hash) -> str:
    have = _hash_cache(house)
    missing = [p for p in pins if not (p.hashes & have.keys())]
    downloaded = 0
    if missing:
        subset = layout.run / "state" / "mirror-missing.txt"
        subset.parent.mkdir(parents=True, exist_ok=True)
        subset.write_text("".join(f"{p.line} " + " ".join(f"--hash=sha256:{h}" for h in sorted(p.hashes)) + "\n"
                                  for p in missing))
        # Machine pip config on purpose (see module doc); --only-binary because the index must never
        # make a service build a third-party sdist, --no-deps because the lock is complete.
        proc.run([tools.python(layout), "-m", "pip", "download", "--disable-pip-version-check",
                  "--no-deps", "--require-hashes", "--only-binary=:all:", "-r", subset, "-d", house],
                 log=log, what=f"downloading {len(missing)} wheels for the mirror", timeout=900)
        have = _hash_cache(house)
        downloaded = len(missing)
        still = [p.name for p in pins if not (p.hashes & have.keys())]
        if still:
            raise StackError(f"no wheel matching mirror.lock for: {', '.join(still)}", log)

    files = []
    for pin in pins:
        for sha in sorted(pin.hashes & have.keys()):
            src = have[sha]
            _link(src, packages / src.name)
            files.append(src.name)
    # Drop wheels we mirrored before that the lock no longer lists, so resolution against the
    # index (service relock) cannot pick a stale version.
    for old in set(manifest.get("files", [])) - set(files):
        (packages / old).unlink(missing_ok=True)
    manifest_path.write_text(json.dumps({"lock": lock_hash, "files": sorted(files)}, indent=1) + "\n")
    return f"{len(files)} wheels in the index ({downloaded} downloaded, {len(files) - downloaded} from the wheelhouse cache)"
