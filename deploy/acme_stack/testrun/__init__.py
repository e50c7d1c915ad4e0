"""`make test`: a throwaway Postgres + index on free ports in a temp dir, then every test suite.

Nothing here reads `.run/` except the shared tools venv, so `make test` never disturbs (or
depends on) a running `make up` stack. Whatever happens, including Ctrl-C or SIGTERM, the
servers and suite processes are killed by process group and the temp dir is removed.

One job per module:
- suites.py     which suites there are, in which order, and ACME_TEST_SUITES selection;
- throwaway.py  the throwaway stack (PostgreSQL, index, mirror, published libraries) and each suite's environment;
- tracker.py    suite processes in their own process groups, so an abort kills them all;
- suite_venvs.py the venv each suite runs in (the service recipe is deploy/acme_stack/venvs.py's);
- results.py    junit parsing, each suite's report and the closing `N passed, N failed`;
- runner.py     running the suites two at a time, `make check` counted first;
- drill.py      `make drill-failover`: the failover drill alone on the same throwaway stack.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from .runner import Runner

__all__ = ["main"]


def _raise_interrupt(signum, frame):  # noqa: ARG001 - the signal handler's signature is fixed by signal.signal
    raise KeyboardInterrupt(f"signal {signum}")


def main(root: Path, *, drill: bool = False) -> int:
    """`make test`, or with `drill` `make drill-failover` (drill.py) on the same throwaway stack."""
    runner = Runner(root)
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        if drill:
            from . import drill as failover

            return failover.run(runner, root)
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
