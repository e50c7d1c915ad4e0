"""Command line: `python3 deploy/stack.py {up,down,status,clean,test,drill-failover,check,generate,relock,relock-tools,publish,release,bump,deps}`."""
from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "up": "start (or refresh) postgres, the index, published libs, service venvs and services",
    "dev": "like up, but libs/ and services/ run editable from the working tree and reload on save",
    "down": "stop everything `up` started (data stays in .run/)",
    "status": "show what is running",
    "clean": "down, then remove .run/",
    "test": "run every test suite against a throwaway postgres + index",
    "drill-failover": "the standby failover drill alone (tests/test_failover_drill.py) on a throwaway stack",
    "check": "static checks: import boundaries, schema ownership in SQL, generated CODEOWNERS and contracts",
    "generate": "rewrite .github/CODEOWNERS and each package's .importlinter from the pyproject declarations",
    "relock": "regenerate deploy/index/mirror.in, mirror.lock and services/*/requirements.lock",
    "relock-tools": "recompile deploy/requirements-tools.txt from requirements-tools.in",
    "publish": "build and publish libs/ to the private index (starts the index if needed)",
    "release": "gate, build and publish ONE library: tests, version + changelog, semver, migrations, upload",
    "bump": "pin a published library version in one service and re-lock it against the private index",
    "deps": "which service pins which library version, and which newer versions the index has",
}


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < (3, 11):
        print(f"error: the stack needs python3 >= 3.11 (this is {sys.version.split()[0]})", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(prog="stack", description="Acme Platform local stack")
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=text, description=text) for name, text in COMMANDS.items()}
    parsers["release"].add_argument("lib", nargs="?", default="", help="acme-<domain>, libs/<dir> or a library folder")
    for opt in ("--service", "--lib", "--version"):
        parsers["bump"].add_argument(opt, default="")
    parsers["deps"].add_argument("--json", action="store_true", help="machine-readable output")
    parsers["up"].add_argument("--shape", default="services", help="services (default) or monolith (all in one gunicorn)")
    args = parser.parse_args(argv)

    from . import bump, check, deps, release, relock, stack, testrun
    from .config import Layout, repo_root
    from .ui import StackError, rel

    layout = Layout.for_repo()
    handlers = {
        "up": lambda lay: stack.up(lay, shape=args.shape), "dev": lambda lay: stack.up(lay, dev=True), "down": stack.down, "status": stack.status, "clean": stack.clean,
        "check": check.main, "generate": check.generate,
        "publish": stack.publish_only, "relock": relock.relock, "relock-tools": relock.relock_tools,
        "release": lambda lay: release.release(lay, args.lib),
        "bump": lambda lay: bump.bump(lay, args.service, args.lib, args.version),
        "deps": lambda lay: deps.deps(lay, args.json),
    }
    try:
        if args.command == "test":
            return testrun.main(repo_root())
        if args.command == "drill-failover":
            return testrun.main(repo_root(), drill=True)
        return handlers[args.command](layout)
    except StackError as e:
        if e.detail:
            print(f"--- last lines of {rel(e.log, layout.root) if e.log else 'output'} ---", file=sys.stderr)
            print(e.detail, file=sys.stderr)
            print("---", file=sys.stderr)
        where = f" (log: {rel(e.log, layout.root)})" if e.log else ""
        print(f"error: {e.message}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
