"""Console output and the one error type the CLI turns into a single line."""
from __future__ import annotations

import sys
from pathlib import Path


class StackError(Exception):
    """An expected failure: printed as one line (plus where the log is), never a traceback."""

    def __init__(self, message: str, log: Path | None = None, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.log = log
        # Extra text (e.g. a log tail) printed after the one-line message.
        self.detail = detail


class Progress:
    """Numbered step lines like ``[3/8] publishing libraries...`` so a long run shows where it is."""

    def __init__(self, total: int, stream=None):
        self.total = total
        self.n = 0
        self.stream = stream or sys.stdout

    def step(self, text: str) -> None:
        self.n += 1
        self.say(f"[{self.n}/{self.total}] {text}")

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def item(self, text: str) -> None:
        print(f"      {text}", file=self.stream, flush=True)


def rel(path: Path, root: Path) -> str:
    """Paths are shown relative to the repo so messages read the same in every clone."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
