"""Command line: `python3 deploy/stack.py {up,down,status,clean,test,relock,relock-tools,publish}`."""
from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "up": "start (or refresh) postgres, the index, published libs, service venvs and services",
    "down": "stop everything `up` started (data stays in .run/)",
    "status": "show what is running",
    "clean": "down, then remove .run/",
    "test": "run every test suite against a throwaway postgres + index",
    "relock": "regenerate deploy/index/mirror.in, mirror.lock and services/*/requirements.lock",
    "relock-tools": "recompile deploy/requirements-tools.txt from requirements-tools.in",
    "publish": "build and publish libs/ to the private index (starts the index if needed)",
}


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < (3, 11):
        print(f"error: the stack needs python3 >= 3.11 (this is {sys.version.split()[0]})", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(prog="stack", description="Acme Platform local stack")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text, description=text)
    args = parser.parse_args(argv)

    from . import relock, stack, testrun
    from .config import Layout, repo_root
    from .ui import StackError, rel

    layout = Layout.for_repo()
    handlers = {
        "up": stack.up, "down": stack.down, "status": stack.status, "clean": stack.clean,
        "publish": stack.publish_only, "relock": relock.relock, "relock-tools": relock.relock_tools,
    }
    try:
        if args.command == "test":
            return testrun.main(repo_root())
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
