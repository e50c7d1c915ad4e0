"""Sample every process's command line (`ps -ww -eo args`, what any local user can see) while a command runs.

-ww: unlimited width; without it ps cuts lines at 80 columns when not writing to a terminal, and a
password late on a long command line would be missed.

Used to show that no credential is ever passed on a command line: collect every distinct command line
seen during `make up` / `make release`, then look for the passwords of the credential files in them.
"""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path


class PsSampler:
    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.seen: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        out = subprocess.run(["ps", "-ww", "-eo", "args", "--no-headers"], capture_output=True, text=True, timeout=30).stdout
        self.seen.update(line.strip() for line in out.splitlines() if line.strip())
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "PsSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def leaks(self, secrets: dict[str, str]) -> list[str]:
        """'<which secret>: <command line with it masked>' for every sampled line holding a secret."""
        found = []
        for line in sorted(self.seen):
            for name, secret in secrets.items():
                if secret and secret in line:
                    found.append(f"{name}: {line.replace(secret, '<SECRET>')[:300]}")
        return found


def passwords(files: list[Path]) -> dict[str, str]:
    """{file name: password} for KEY=VALUE credential files (every *PASSWORD* key)."""
    found = {}
    for path in files:
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#") and "PASSWORD" in key and value.strip():
                found[f"{path.parent.name}/{path.name}:{key.strip()}"] = value.strip()
    return found
