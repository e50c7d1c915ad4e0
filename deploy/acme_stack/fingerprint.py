"""Content hashes that decide whether a step has anything to do."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Iterable

# Directories never part of a source fingerprint (mirrors the repo's .gitignore for non-git trees).
_JUNK_DIRS = {".git", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist", ".venv", ".run",
              ".mypy_cache", ".ruff_cache"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def source_files(root: Path, subdir: Path) -> list[Path]:
    """Files a clone would contain under `subdir`: git's tracked + untracked-not-ignored files.

    Using git's view (not a directory walk) keeps caches, build output and editor junk out of
    fingerprints and builds, so the working tree behaves like a fresh clone."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
             "--", str(subdir.relative_to(root))],
            capture_output=True, check=True, stdin=subprocess.DEVNULL,
        ).stdout
        files = sorted({root / p for p in out.decode().split("\0") if p})
        # Deleted-but-still-tracked files show up in the index listing; skip them.
        return [f for f in files if f.is_file()]
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    result = []
    for path in sorted(subdir.rglob("*")):
        if any(part in _JUNK_DIRS or part.endswith(".egg-info") for part in path.relative_to(subdir).parts):
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            result.append(path)
    return result


def tree(root: Path, files: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(sha256_file(f).encode() + b"\0")
    return h.hexdigest()


def source_tree(root: Path, subdir: Path) -> str:
    return tree(root, source_files(root, subdir))
