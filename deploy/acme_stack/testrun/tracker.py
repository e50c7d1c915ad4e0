"""Suite commands (pytest, uv) in their own process groups, so an abort kills everything they started."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from .. import proc


class Aborted(Exception):
    pass


class Tracker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()
        self.aborted = False

    def run(self, cmd: list, *, log: Path, env: dict, cwd: Path, timeout: float) -> int:
        if self.aborted:
            raise Aborted()
        with open(log, "a") as fh:
            fh.write(f"\n$ {proc.redact(' '.join(str(c) for c in cmd))}\n")
            fh.flush()
            p = subprocess.Popen([str(c) for c in cmd], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, cwd=str(cwd), start_new_session=True)
        with self.lock:
            self.procs.add(p)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(p)
            with open(log, "a") as fh:
                fh.write(f"\n!!! killed after {timeout:.0f}s (ACME_TEST_SUITE_TIMEOUT)\n")
            return -9
        finally:
            with self.lock:
                self.procs.discard(p)

    def _kill(self, p: subprocess.Popen) -> None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def abort(self) -> None:
        self.aborted = True
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        # Grace for pytest teardowns (the stack test runs `make down` in its clone) before SIGKILL.
        deadline = time.monotonic() + 30
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self._kill(p)
