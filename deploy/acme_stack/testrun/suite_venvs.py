"""The venv each suite runs in, built with uv under the tracker (so an abort kills the install too):
- a library: a fresh venv, the library editable with its `test` extra (its acme-* dependencies from the
  throwaway index, where this tree's libraries were just published);
- a service: exactly as `make up` builds it (venvs.service_install_steps: the hash-checked lock, then the
  service without dependencies), plus pytest and requests;
- deploy/tests and tests/: a runner venv with pytest, requests and psycopg.
"""
from __future__ import annotations

from pathlib import Path

from .. import tools, venvs
from ..ui import StackError
from .suites import Suite
from .throwaway import ThrowawayStack
from .tracker import Tracker


class SuiteVenvs:
    def __init__(self, stack: ThrowawayStack, tracker: Tracker, timeout: float):
        self.stack, self.tracker, self.timeout = stack, tracker, timeout

    def uv(self, args: list, log: Path) -> None:
        # The index and its deploy login through the environment (UV_DEFAULT_INDEX), never argv.
        rc = self.tracker.run([tools.bin(self.stack.layout, "uv"), *args], log=log, env=venvs.uv_env(self.stack.idx),
                              cwd=self.stack.root, timeout=self.timeout)
        if rc != 0:
            raise StackError(f"`uv {' '.join(str(a) for a in args[:2])}` failed (exit {rc})", log)

    def fresh(self, venv: Path, log: Path, packages: list) -> Path:
        self.uv(venvs.create_args(venv), log)
        if packages:
            self.uv(venvs.install_args(venv, packages), log)
        return venv

    def prepare(self, suite: Suite, log: Path) -> Path:
        if suite.kind == "lib":
            lib = suite.project
            assert lib is not None, suite.name
            target = f"{lib.path}[test]" if "test" in lib.extras else str(lib.path)
            # Editable, so the suite tests this tree.
            extra = [] if "test" in lib.extras else ["pytest"]
            return self.fresh(self.stack.tmp / "lib-venvs" / lib.dirname, log, ["-e", target, *extra])
        if suite.kind == "service":
            svc = suite.project
            assert svc is not None, suite.name
            venv = self.stack.service_venvs / svc.dirname
            lock = venvs.checked_lock(svc)
            self.fresh(venv, log, [])
            for args, _what in venvs.service_install_steps(svc, venv, lock):
                self.uv(args, log)
            self.uv(venvs.install_args(venv, ["pytest", "requests"]), log)
            return venv
        slug = suite.name.replace("/", "_").replace(":", "_")
        # playwright: the console's browser tests drive the machine's chromium (never `playwright install`).
        return self.fresh(self.stack.tmp / f"runner-venv-{slug}", log,
                          ["pytest", "requests", "psycopg[binary]", "playwright"])
