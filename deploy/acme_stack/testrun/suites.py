"""Which suites `make test` runs and in which order; ACME_TEST_SUITES picks some of them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import pooled_suite, projects, testrun_shapes


@dataclass(eq=False)  # identity semantics: suites are tracked in sets
class Suite:
    name: str  # how it is shown: libs/acme-platform, services/storefront, deploy/tests, tests, tests:e2e
    kind: str  # lib | service | e2e (e2e: a runner venv, after every service venv exists)
    tests: Path  # the folder pytest runs
    project: projects.Project | None = None
    select: list[str] | None = None  # pytest arguments choosing files in `tests` (default: all of it)
    env: dict[str, str] | None = None  # added to the suite's environment (e.g. the pooler switch)
    shape: str = ""  # "monolith": the e2e files against the all-in-one deployable (testrun_shapes)


def selected(suite: Suite) -> bool:
    """ACME_TEST_SUITES=tests,libs/acme-catalog runs only those suites (for a quick loop while
    working on them); ACME_TEST_FILES=test_multihost_drill.py only the suites that list one of those files
    (`make drill-multihost`); `make test` without them runs everything."""
    files = wanted_files()
    if files and not files.intersection(suite.select or ()):
        return False
    wanted = [w.strip() for w in os.environ.get("ACME_TEST_SUITES", "").split(",") if w.strip()]
    return not wanted or any(suite.name == w or suite.name.startswith(w + ":") for w in wanted)


def wanted_files() -> set[str]:
    return {f.strip() for f in os.environ.get("ACME_TEST_FILES", "").split(",") if f.strip()}


def files_to_run(suite: Suite) -> list[str] | None:
    """The files of `suite` pytest runs (None: its whole folder); ACME_TEST_FILES narrows them."""
    files = wanted_files()
    return [f for f in suite.select if not files or f in files] if suite.select else None


def package_suites(root: Path) -> list[Suite]:
    """Services first (the suites after them wait for their venvs), then libs biggest-first: with two
    cores the longest suites should start early rather than finish last."""
    svcs = [Suite(f"services/{s.dirname}", "service", s.path / "tests", s) for s in projects.services(root)]
    libs = [Suite(f"libs/{lib.dirname}", "lib", lib.path / "tests", lib) for lib in projects.libs(root)]
    libs.sort(key=lambda s: -_size(s.tests))
    return svcs + libs


def after_services(root: Path) -> list[Suite]:
    """The suites that need every service venv: the deploy tooling's own tests (deploy/tests: make check,
    make up/down in a clone, make release, the index's rights, the PostgreSQL choice), then tests/ as two
    suites side by side, the HTTP end-to-end flows (test_e2e_*) and the drills. They share no state, and
    together they are the longest part of the run: one after the other they would leave a core idle."""
    found = []
    tooling = root / "deploy" / "tests"
    if projects.has_test_files(tooling):
        # Its clean-clone drills (make up/down, the embedded fallback, make release: minutes each) are a
        # suite of their own beside the quick ones, as tests/ is split, so one suite timeout never holds both.
        drills = sorted(p.name for p in tooling.glob("test_*.py") if p.name in _TOOLING_DRILLS)
        quick = sorted(p.name for p in tooling.glob("test_*.py") if p.name not in _TOOLING_DRILLS)
        if drills and quick:
            found += [Suite("deploy/tests:drills", "e2e", tooling, select=drills),
                      Suite("deploy/tests", "e2e", tooling, select=quick)]
        else:
            found.append(Suite("deploy/tests", "e2e", tooling))
    folder = root / "tests"
    if not folder.is_dir():
        return found
    e2e = sorted(p.name for p in folder.glob("test_e2e_*.py"))
    drills = sorted(p.name for p in folder.glob("test_*.py")
              if not p.name.startswith(("test_e2e_", "test_load_", pooled_suite.ONLY_BEHIND_PGBOUNCER)))
    if not e2e or not drills:
        return [*found, Suite("tests", "e2e", folder, select=drills + e2e)]
    return [*found, Suite("tests:e2e", "e2e", folder, select=e2e),
            pooled_suite.behind_pgbouncer(Suite("tests:e2e-pgbouncer", "e2e", folder, select=e2e)),
            Suite(testrun_shapes.SUITE, "e2e", folder, select=e2e, shape="monolith"),
            Suite("tests", "e2e", folder, select=drills)]


_TOOLING_DRILLS = {"test_stack.py", "test_embedded_fallback.py", "test_release.py", "test_dev_loop.py"}


def load_suites(root: Path) -> list[Suite]:
    """tests/test_load_*.py: drills whose bounds are latencies on this machine (a login flood must not
    slow a wallet read past 0.5 s). They run last, alone, so another suite's CPU does not decide them."""
    folder = root / "tests"
    load = sorted(p.name for p in folder.glob("test_load_*.py")) if folder.is_dir() else []
    return [Suite("tests:load", "e2e", folder, select=load)] if load else []


def _size(folder: Path) -> int:
    """Rough cost estimate of a suite: bytes of its test modules."""
    return sum(p.stat().st_size for p in folder.rglob("test_*.py")) if folder.is_dir() else 0
