"""Running the suites: `make check` first (each check counted as a test), then the package suites two at a
time, the suites that need every service venv as soon as those exist, and the load drills last and alone."""
from __future__ import annotations

import io
import os
import shlex
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from .. import browser, check, pooled_suite, projects, testrun_shapes, venvs
from ..ui import StackError, tail
from . import results, suites
from .results import Result
from .suites import Suite
from .suite_venvs import SuiteVenvs
from .throwaway import ThrowawayStack
from .tracker import Aborted, Tracker


class Runner:
    def __init__(self, root: Path):
        self.root = root
        self.stack = ThrowawayStack(root)
        self.tracker = Tracker()
        self.timeout = float(os.environ.get("ACME_TEST_SUITE_TIMEOUT", "1200"))
        self.jobs = max(1, int(os.environ.get("ACME_TEST_JOBS", "2")))
        self.venvs = SuiteVenvs(self.stack, self.tracker, self.timeout)
        self.finished: set[Suite] = set()

    # -- one suite -----------------------------------------------------------------------------
    def run_suite(self, suite: Suite) -> Result:
        started = time.monotonic()
        try:
            return self._run_suite(suite, started)
        except Aborted:
            return Result(suite.name, False, failed=1, summary="aborted", seconds=time.monotonic() - started)
        except Exception as e:  # noqa: BLE001 - one broken suite must not take the whole run (and its summary) down
            return Result(suite.name, False, failed=1, summary=f"runner error: {type(e).__name__}: {e}",
                          seconds=time.monotonic() - started)

    def _run_suite(self, suite: Suite, started: float) -> Result:
        logs = self.stack.tmp / "suite-logs"
        logs.mkdir(exist_ok=True)
        slug = suite.name.replace("/", "_")
        install_log, test_log, junit = logs / f"{slug}.install.log", logs / f"{slug}.log", logs / f"{slug}.xml"
        if suite.kind == "lib" and not suites.selected(suite):
            return Result(suite.name, True, summary="not selected (ACME_TEST_SUITES, ACME_TEST_FILES)", seconds=time.monotonic() - started)
        try:
            venv = self.venvs.prepare(suite, install_log)
        except StackError as e:
            return Result(suite.name, False, failed=1, summary=f"setup failed: {e.message}",
                          seconds=time.monotonic() - started, output=tail(install_log, 40))
        if not suite.tests.is_dir():
            return Result(suite.name, True, summary="no tests folder", seconds=time.monotonic() - started)
        if not suites.selected(suite):
            # Still prepared above: the suites after the services need every service venv even when only they are selected.
            return Result(suite.name, True, summary="not selected (ACME_TEST_SUITES, ACME_TEST_FILES)", seconds=time.monotonic() - started)
        try:
            pooled_suite.prepare(suite)
        except StackError as e:
            return Result(suite.name, False, failed=1, summary=f"setup failed: {e.message}",
                          seconds=time.monotonic() - started)
        cwd = suite.project.path if suite.project else self.root
        extra_args = shlex.split(os.environ.get("ACME_TEST_PYTEST_ARGS", ""))
        env = {**self.stack.suite_env(venv), **(suite.env or {})}
        if suite.shape == "monolith":
            try:
                assert self.stack.idx is not None   # set up before any suite runs
                env.update(testrun_shapes.monolith_env(self.stack.layout, self.stack.idx, install_log))
            except StackError as e:
                return Result(suite.name, False, failed=1, summary=f"setup failed: {e.message}",
                              seconds=time.monotonic() - started, output=tail(install_log, 40))
        rc = self.tracker.run(
            [venvs.py(venv), "-m", "pytest",
             *([os.path.relpath(suite.tests / f, cwd) for f in files] if (files := suites.files_to_run(suite))
               else [os.path.relpath(suite.tests, cwd)]),
             "-q", "-p", "no:cacheprovider",
             f"--junitxml={junit}", *extra_args],
            log=test_log, env=env, cwd=cwd, timeout=self.timeout)
        res = Result(suite.name, rc == 0, seconds=time.monotonic() - started,
                     output=test_log.read_text(errors="replace") if test_log.exists() else "")
        results.count_junit(res, junit)
        if rc == 5 and not projects.has_test_files(suite.tests):
            res.ok, res.summary = True, "no tests collected (folder has no test files)"
        elif rc == 5:
            res.summary = "pytest collected no tests although the folder has test files"
        else:
            res.summary = results.last_summary(res.output) or f"pytest exited with code {rc}"
        if not res.ok and res.failed == 0:
            res.failed = 1  # a crash, timeout or usage error still counts as a failure
        return res

    def static_checks(self) -> Result:
        """`make check`, counted like a suite: one test per check, so a finding fails `make test`."""
        started, out = time.monotonic(), io.StringIO()
        try:
            passed, failed = check.run(self.stack.layout, out=out)
        except StackError as e:
            return Result("make check", False, failed=1, summary=f"error: {getattr(e, 'message', e)}",
                          seconds=time.monotonic() - started, output=out.getvalue())
        return Result("make check", failed == 0, passed=passed, failed=failed,
                      summary=f"{passed} checks passed, {failed} failed", seconds=time.monotonic() - started,
                      output=out.getvalue() if failed else "")

    # -- the whole run -------------------------------------------------------------------------
    def run(self) -> int:
        t0 = time.monotonic()
        try:
            if any(suites.selected(s) for s in suites.after_services(self.root)):
                browser.ensure_chromium()   # tests/test_e2e_console_browser.py drives it
            self.stack.setup()
        except StackError as e:
            self.stack.print_error(e)
            print("0 passed, 1 failed")
            return 1
        done: list[Result] = [self.static_checks()]
        results.report(done[0])
        print(f"setup took {time.monotonic() - t0:.0f}s; running suites ({self.jobs} at a time)…", flush=True)
        first, later = suites.package_suites(self.root), suites.after_services(self.root)
        pending = list(first)
        services = [s for s in first if s.kind == "service"]
        running: dict[Future[Result], Suite] = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs)
        try:
            while pending or running or later:
                # deploy/tests and tests/ need the service venvs, so they start as soon as every service
                # suite is done (not after all libs), which keeps both cores busy until the end.
                while len(running) < self.jobs and (pending or later):
                    if later and all(s in self.finished for s in services):
                        suite = later.pop(0)
                    elif pending:
                        suite = pending.pop(0)
                    else:
                        break
                    running[pool.submit(self.run_suite, suite)] = suite
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    suite = running.pop(fut)
                    self.finished.add(suite)
                    res = fut.result()
                    done.append(res)
                    results.report(res)
            for suite in suites.load_suites(self.root):   # alone, after everything else (ACME_TEST_SUITES applies)
                res = self.run_suite(suite)
                done.append(res)
                results.report(res)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return results.summarise(done, time.monotonic() - t0)

    def cleanup(self) -> None:
        self.tracker.abort()
        self.stack.teardown()
