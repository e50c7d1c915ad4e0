"""One finding of `make check`, printed as `path:line: message` (the shape editors and CI annotate)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    path: str  # relative to the repo root
    line: int  # 1-based (1 when the finding is about the whole file)
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def stale(path: str, current: str | None, wanted: str, what: str) -> Finding | None:
    """A generated file that differs from what it should be: point at the first line that differs."""
    if current == wanted:
        return None
    if current is None:
        return Finding(path, 1, f"missing: {what}")
    have, want = current.splitlines(), wanted.splitlines()
    line = next((i + 1 for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b), min(len(have), len(want)) + 1)
    expected = want[line - 1] if line <= len(want) else "(end of file)"
    return Finding(path, line, f"differs from the declarations (expected {expected!r}): {what}")
