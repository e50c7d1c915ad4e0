"""`make test`: a throwaway Postgres + index on free ports in a temp dir, then every test suite.

Nothing here reads `.run/` except the shared tools venv, so `make test` never disturbs (or
depends on) a running `make up` stack. Whatever happens, including Ctrl-C or SIGTERM, the
servers and suite processes are killed by process group and the temp dir is removed.
"""
from __future__ import annotations

import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from . import (check, config, index, mirror, postgres, projects, proc, publish, relock, supervisor, testrun_shapes,
               tools, venvs)
from .config import Layout
from .ui import Progress, StackError, rel, tail


@dataclass
class Result:
    name: str
    ok: bool
    passed: int = 0
    failed: int = 0  # failures + errors
    skipped: int = 0
    summary: str = ""
    seconds: float = 0.0
    output: str = ""


@dataclass(eq=False)  # identity semantics: suites are tracked in sets
class Suite:
    name: str  # how it is shown: libs/acme-platform, services/storefront, tests
    kind: str  # lib | service | e2e
    tests: Path  # the folder pytest runs
    project: projects.Project | None = None
    select: list[str] | None = None  # pytest arguments choosing files in `tests` (default: all of it)
    shape: str = ""  # "monolith": the e2e files against the all-in-one deployable (testrun_shapes)


class Aborted(Exception):
    pass


class Tracker:
    """Runs suite commands in their own process groups so an abort can kill everything."""

    def __init__(self):
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


class Runner:
    def __init__(self, root: Path):
        self.root = root
        self.tmp = Path(tempfile.mkdtemp(prefix="acme-test-"))
        # The postgres OS user must traverse into the cluster directory.
        os.chmod(self.tmp, 0o755)
        self.layout = Layout(root=root, run=self.tmp, tools=config.tools_dir(root))
        self.tracker = Tracker()
        self.cluster: postgres.Cluster | None = None
        self.idx: index.Index | None = None
        self.timeout = float(os.environ.get("ACME_TEST_SUITE_TIMEOUT", "1200"))
        self.jobs = max(1, int(os.environ.get("ACME_TEST_JOBS", "2")))
        self.print_lock = threading.Lock()
        self.finished: set = set()

    # -- environment handed to every suite ----------------------------------------------------
    def suite_env(self, venv: Path) -> dict[str, str]:
        pg = self.cluster.info()
        return proc.isolated_env({
            "ACME_TEST_DATABASE_URL": pg.url("postgres"),
            # The read-only deploy login (downloads); uploads take the owning team's publish login
            # from ACME_TEST_INDEX_TEAMS/<team>.
            "ACME_TEST_INDEX_URL": self.idx.simple_url_with_auth(),
            "ACME_TEST_INDEX_UPLOAD_URL": self.idx.upload_url,
            "ACME_TEST_INDEX_USER": self.idx.user,
            "ACME_TEST_INDEX_PASSWORD": self.idx.password,
            "ACME_TEST_INDEX_TEAMS": str(self.idx.teams),
            "ACME_TEST_TOOLS_BIN": str(self.layout.tools_bin),
            "ACME_TEST_SERVICE_VENVS": str(self.service_venvs),
            "ACME_REPO_ROOT": str(self.root),
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Suites' temp files (and anything they start there) live inside our temp dir, so the
            # final cleanup finds and removes whatever a killed suite left behind.
            "TMPDIR": str(self.suite_tmp),
        }, drop=("DATABASE_URL",))

    @property
    def suite_tmp(self) -> Path:
        path = self.tmp / "tmp"
        if not path.exists():
            path.mkdir()
            os.chmod(path, 0o1777)
        return path

    @property
    def saved_logs(self) -> Path:
        return self.root / ".run" / "test-logs"

    def save_logs(self) -> None:
        """Keep the last run's logs after the temp dir is gone (the only thing written to .run/)."""
        try:
            shutil.rmtree(self.saved_logs, ignore_errors=True)
            for sub in ("logs", "suite-logs"):
                if (self.tmp / sub).is_dir():
                    shutil.copytree(self.tmp / sub, self.saved_logs / sub)
        except OSError:
            pass

    @property
    def service_venvs(self) -> Path:
        return self.tmp / "service-venvs"

    # -- installs (through the tracker so an abort kills them too) ----------------------------
    def uv(self, args: list, log: Path, cwd: Path | None = None) -> None:
        # The index and its deploy login through the environment (UV_DEFAULT_INDEX), never argv.
        rc = self.tracker.run([tools.bin(self.layout, "uv"), *args], log=log, env=venvs.uv_env(self.idx),
                              cwd=cwd or self.root, timeout=self.timeout)
        if rc != 0:
            raise StackError(f"`uv {' '.join(str(a) for a in args[:2])}` failed (exit {rc})", log)

    def new_venv(self, venv: Path, log: Path) -> None:
        self.uv(["venv", "--no-config", "--clear", "--quiet", "--python", sys.executable, venv], log)

    def install(self, venv: Path, args: list, log: Path) -> None:
        self.uv(["pip", "install", "--no-config", "--python", venvs.py(venv), *args], log)

    def prepare(self, suite: Suite, log: Path) -> Path:
        if suite.kind == "lib":
            lib = suite.project
            venv = self.tmp / "lib-venvs" / lib.dirname
            self.new_venv(venv, log)
            target = f"{lib.path}[test]" if "test" in lib.extras else str(lib.path)
            # Editable, so the suite tests this tree; its acme-* deps come from the throwaway index,
            # where the current tree of every lib was just published.
            extra = [] if "test" in lib.extras else ["pytest"]
            self.install(venv, ["-e", target, *extra], log)
            return venv
        if suite.kind == "service":
            svc = suite.project
            venv = self.service_venvs / svc.dirname
            lock = venvs.checked_lock(svc)
            self.new_venv(venv, log)
            # Exactly as `make up` builds it: the lock (hash-checked), then the service without deps.
            self.uv(["pip", "sync", "--no-config", "--python", venvs.py(venv), "--require-hashes", lock], log)
            self.install(venv, ["--no-deps", "--reinstall-package", svc.name, svc.path], log)
            self.install(venv, ["pytest", "requests"], log)
            return venv
        venv = self.tmp / f"runner-venv-{suite.name.replace('/', '_').replace(':', '_')}"
        self.new_venv(venv, log)
        self.install(venv, ["pytest", "requests", "psycopg[binary]"], log)
        return venv

    # -- one suite -----------------------------------------------------------------------------
    def run_suite(self, suite: Suite) -> Result:
        started = time.monotonic()
        try:
            return self._run_suite(suite, started)
        except Aborted:
            return Result(suite.name, False, failed=1, summary="aborted", seconds=time.monotonic() - started)
        except Exception as e:  # one broken suite must not take the whole run (and its summary) down
            return Result(suite.name, False, failed=1, summary=f"runner error: {type(e).__name__}: {e}",
                          seconds=time.monotonic() - started)

    def _run_suite(self, suite: Suite, started: float) -> Result:
        logs = self.tmp / "suite-logs"
        logs.mkdir(exist_ok=True)
        slug = suite.name.replace("/", "_")
        install_log, test_log, junit = logs / f"{slug}.install.log", logs / f"{slug}.log", logs / f"{slug}.xml"
        if suite.kind == "lib" and not self.selected(suite):
            return Result(suite.name, True, summary="not selected (ACME_TEST_SUITES)", seconds=time.monotonic() - started)
        try:
            venv = self.prepare(suite, install_log)
        except StackError as e:
            return Result(suite.name, False, failed=1, summary=f"setup failed: {e.message}",
                          seconds=time.monotonic() - started, output=tail(install_log, 40))
        if not suite.tests.is_dir():
            return Result(suite.name, True, summary="no tests folder", seconds=time.monotonic() - started)
        if not self.selected(suite):
            # Still prepared above: tests/ needs every service venv even when only it is selected.
            return Result(suite.name, True, summary="not selected (ACME_TEST_SUITES)", seconds=time.monotonic() - started)
        cwd = suite.project.path if suite.project else self.root
        extra_args = shlex.split(os.environ.get("ACME_TEST_PYTEST_ARGS", ""))
        env = self.suite_env(venv)
        if suite.shape == "monolith":
            try:
                env.update(testrun_shapes.monolith_env(self.layout, self.idx, install_log))
            except StackError as e:
                return Result(suite.name, False, failed=1, summary=f"setup failed: {e.message}",
                              seconds=time.monotonic() - started, output=tail(install_log, 40))
        rc = self.tracker.run(
            [venvs.py(venv), "-m", "pytest",
             *([os.path.relpath(suite.tests / f, cwd) for f in suite.select] if suite.select
               else [os.path.relpath(suite.tests, cwd)]),
             "-q", "-p", "no:cacheprovider",
             f"--junitxml={junit}", *extra_args],
            log=test_log, env=env, cwd=cwd, timeout=self.timeout)
        res = Result(suite.name, rc == 0, seconds=time.monotonic() - started,
                     output=test_log.read_text(errors="replace") if test_log.exists() else "")
        self._count(res, junit)
        if rc == 5 and not projects.has_test_files(suite.tests):
            res.ok, res.summary = True, "no tests collected (folder has no test files)"
        elif rc == 5:
            res.summary = "pytest collected no tests although the folder has test files"
        else:
            res.summary = _last_summary(res.output) or f"pytest exited with code {rc}"
        if not res.ok and res.failed == 0:
            res.failed = 1  # a crash, timeout or usage error still counts as a failure
        return res

    @staticmethod
    def selected(suite: Suite) -> bool:
        """ACME_TEST_SUITES=tests,libs/acme-catalog runs only those suites (for a quick loop while
        working on them); `make test` without it runs everything."""
        wanted = [w.strip() for w in os.environ.get("ACME_TEST_SUITES", "").split(",") if w.strip()]
        return not wanted or any(suite.name == w or suite.name.startswith(w + ":") for w in wanted)

    @staticmethod
    def _count(res: Result, junit: Path) -> None:
        try:
            root = ET.parse(junit).getroot()
        except (OSError, ET.ParseError):
            return
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for s in suites:
            tests, fail, err, skip = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
            res.passed += tests - fail - err - skip
            res.failed += fail + err
            res.skipped += skip

    def report(self, res: Result) -> None:
        with self.print_lock:
            mark = "ok" if res.ok else "FAILED"
            print(f"\n──── {res.name}: {mark} — {res.summary} ({res.seconds:.0f}s) ────", flush=True)
            if res.output.strip():
                print(res.output.rstrip(), flush=True)

    # -- the whole run -------------------------------------------------------------------------
    def suites(self) -> tuple[list[Suite], Suite | None]:
        """Services first (tests/ waits for their venvs), then libs biggest-first: with two cores the
        longest suites should start early rather than finish last."""
        svcs = [Suite(f"services/{s.dirname}", "service", s.path / "tests", s) for s in projects.services(self.root)]
        libs = [Suite(f"libs/{lib.dirname}", "lib", lib.path / "tests", lib) for lib in projects.libs(self.root)]
        libs.sort(key=lambda s: -_size(s.tests))
        return svcs + libs, self.cross_service_suites()

    def cross_service_suites(self) -> list[Suite]:
        """tests/ as two suites that run side by side: the HTTP end-to-end flows (test_e2e_*) and the
        drills (stack, skew, release, dependency confusion). They share no state, and together they
        are the longest part of the run: one after the other they would leave a core idle."""
        folder = self.root / "tests"
        if not folder.is_dir():
            return []
        e2e = sorted(p.name for p in folder.glob("test_e2e_*.py"))
        drills = sorted(p.name for p in folder.glob("test_*.py") if not p.name.startswith(("test_e2e_", "test_load_")))
        if not e2e or not drills:
            return [Suite("tests", "e2e", folder, select=drills + e2e)]
        return [Suite("tests", "e2e", folder, select=drills), Suite("tests:e2e", "e2e", folder, select=e2e),
                Suite(testrun_shapes.SUITE, "e2e", folder, select=e2e, shape="monolith")]

    def load_suites(self) -> list[Suite]:
        """tests/test_load_*.py: drills whose bounds are latencies on this machine (a login flood must not
        slow a wallet read past 0.5 s). They run last, alone, so another suite's CPU does not decide them."""
        folder = self.root / "tests"
        load = sorted(p.name for p in folder.glob("test_load_*.py")) if folder.is_dir() else []
        return [Suite("tests:load", "e2e", folder, select=load)] if load else []

    def setup(self) -> None:
        ui = Progress(5)
        ui.step("tools venv (shared with make up)…")
        ui.item(tools.ensure(self.layout, self.layout.log("tools")))
        ui.step("throwaway PostgreSQL on a free port…")
        self.cluster = postgres.Cluster(self.layout, proc.free_port(), throwaway=True)
        self.cluster.ensure()
        ui.item(f"127.0.0.1:{self.cluster.port} ({self.cluster.server.describe()})")
        ui.step("throwaway package index on a free port…")
        self.idx, _ = index.ensure(self.layout, proc.free_port(), with_test_fixtures=True)
        ui.item(self.idx.simple_url)
        ui.step("mirroring third-party wheels…")
        ui.item(mirror.sync(self.layout, self.layout.log("mirror")))
        if relock.mirror_in_is_stale(self.root):
            ui.item(relock.STALE_WARNING)
        ui.step("publishing libraries from this tree…")
        publish.publish_all(self.layout, self.idx, ui)

    def static_checks(self) -> Result:
        """`make check`, counted like a suite: one test per check, so a finding fails `make test`."""
        started, out = time.monotonic(), io.StringIO()
        try:
            passed, failed = check.run(self.layout, out=out)
        except (StackError, OSError, subprocess.SubprocessError) as e:
            return Result("make check", False, failed=1, summary=f"error: {getattr(e, 'message', e)}",
                          seconds=time.monotonic() - started, output=out.getvalue())
        return Result("make check", failed == 0, passed=passed, failed=failed,
                      summary=f"{passed} checks passed, {failed} failed", seconds=time.monotonic() - started,
                      output=out.getvalue() if failed else "")

    def run(self) -> int:
        t0 = time.monotonic()
        try:
            self.setup()
        except StackError as e:
            _print_error(e, self)
            print("0 passed, 1 failed")
            return 1
        results: list[Result] = [self.static_checks()]
        self.report(results[0])
        print(f"setup took {time.monotonic() - t0:.0f}s; running suites ({self.jobs} at a time)…", flush=True)
        first, e2e = self.suites()
        pending = list(first)
        services = [s for s in first if s.kind == "service"]
        running: dict = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs)
        try:
            while pending or running or e2e:
                # tests/ needs the service venvs, so it starts as soon as every service suite is done
                # (not after all libs), which keeps both cores busy until the end.
                while len(running) < self.jobs and (pending or e2e):
                    if e2e and all(s in self.finished for s in services):
                        suite = e2e.pop(0)
                    elif pending:
                        suite = pending.pop(0)
                    else:
                        break
                    running[pool.submit(self.run_suite, suite)] = suite
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    suite = running.pop(fut)
                    self.finished.add(suite)
                    res = fut.result()
                    results.append(res)
                    self.report(res)
            for suite in self.load_suites():   # alone, after everything else (ACME_TEST_SUITES applies)
                res = self.run_suite(suite)
                results.append(res)
                self.report(res)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return self.summarise(results, time.monotonic() - t0)

    def summarise(self, results: list[Result], seconds: float) -> int:
        order = {r.name: i for i, r in enumerate(results)}
        print("\n════ summary ════")
        for r in sorted(results, key=lambda r: order[r.name]):
            print(f"  {'ok    ' if r.ok else 'FAILED'} {r.name}: {r.summary}")
        if not results:
            print("  no suites found")
        passed = sum(r.passed for r in results)
        failed = sum(r.failed for r in results)
        all_ok = all(r.ok for r in results)
        print(f"total time {seconds:.0f}s")
        # The plain closing line CI reads; keep it last and exactly this shape.
        print(f"{passed} passed, {failed} failed", flush=True)
        return 0 if all_ok and failed == 0 else 1

    def cleanup(self) -> None:
        self.tracker.abort()
        try:
            supervisor.stop(self.layout.pids, index.NAME, timeout=5)
        except Exception as e:  # cleanup must go on whatever failed before
            print(f"warning: stopping the test index: {e}", file=sys.stderr)
        if self.cluster is not None:
            try:
                self.cluster.stop("immediate")
            except Exception as e:
                print(f"warning: stopping the test cluster: {e}", file=sys.stderr)
        leftovers = supervisor.kill_under(self.tmp)
        if leftovers:
            print(f"warning: killed {leftovers} process(es) left running under {self.tmp}", file=sys.stderr)
        self.save_logs()
        keep = os.environ.get("ACME_TEST_KEEP", "").strip() not in ("", "0")
        if keep:
            print(f"kept {self.tmp} (ACME_TEST_KEEP)")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _size(folder: Path) -> int:
    """Rough cost estimate of a suite: bytes of its test modules."""
    return sum(p.stat().st_size for p in folder.rglob("test_*.py")) if folder.is_dir() else 0


def _last_summary(output: str) -> str:
    for line in reversed(output.strip().splitlines()):
        s = line.strip().strip("=").strip()
        if " in " in s and any(w in s for w in ("passed", "failed", "error", "skipped", "no tests ran")):
            return s
    return ""


def _print_error(e: StackError, runner: "Runner") -> None:
    if e.detail:
        print(e.detail, file=sys.stderr)
    where = ""
    if e.log:
        # The temp dir is removed at the end; its logs are copied to .run/test-logs.
        try:
            where = f" (log: {rel(runner.saved_logs / Path(e.log).relative_to(runner.tmp), runner.root)})"
        except ValueError:
            where = f" (log: {e.log})"
    print(f"error: {e.message}{where}", file=sys.stderr)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(root: Path) -> int:
    runner = Runner(root)
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        return runner.run()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping test servers and suites…", file=sys.stderr, flush=True)
        print("0 passed, 1 failed")
        return 130
    finally:
        # Ignore further signals while cleaning up so a second Ctrl-C cannot leave servers behind.
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        runner.cleanup()
        for s, h in old.items():
            signal.signal(s, h)
