"""One finding of `make check`, printed as `path:line: message` (the shape editors and CI annotate)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    path: str  # relative to the repo root
    line: int  # 1-based; 0 when the finding is about the whole file
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
