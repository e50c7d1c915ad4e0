"""`make drill-failover`: the standby failover drill alone, on make test's throwaway stack.

The drill (tests/test_failover_drill.py) also runs in `make test`, in the `tests` drills suite. Alone, it
needs the same things: the throwaway index with this tree's libraries, every service venv built from its
lock (the drill starts all three services), a runner venv. No `make check`, no other suite. It brings its
own primary and standby up and down (deploy/acme_stack/standby.py), and writes its figures to
<artifacts>/failover/drill.json; the last line printed is those figures, or why there are none.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .. import projects
from ..ui import StackError, tail
from . import results
from .suites import Suite

DRILL = "test_failover_drill.py"


def run(runner, root: Path) -> int:
    t0 = time.monotonic()
    try:
        runner.stack.setup()
        logs = runner.stack.tmp / "suite-logs"
        logs.mkdir(exist_ok=True)
        for svc in projects.services(root):
            install_log = logs / f"services_{svc.dirname}.install.log"
            try:
                runner.venvs.prepare(Suite(f"services/{svc.dirname}", "service", svc.path / "tests", svc), install_log)
            except StackError as e:
                print(tail(install_log, 20))
                raise StackError(f"venv of {svc.dirname}: {e.message}") from None
    except StackError as e:
        runner.stack.print_error(e)
        print("failover drill: not run (setup failed)")
        return 1
    res = runner.run_suite(Suite("tests:failover", "e2e", root / "tests", select=[DRILL]))
    results.report(res)
    figures_file = runner.stack.artifacts / "failover" / "drill.json"
    took = time.monotonic() - t0
    if not res.ok or not figures_file.exists():
        print(f"failover drill: FAILED after {took:.0f}s ({res.summary}); logs in .run/test-logs/")
        return 1
    figures = json.loads(figures_file.read_text())
    print(f"failover drill: {figures['orders_acknowledged']} orders acknowledged, {figures['orders_present']} present "
          f"on the new primary, {figures['seconds_to_recover']:.1f} s to recover")
    return 0
