"""`make check`: the static checks of ownership and boundaries, one `path:line: message` per finding.

- imports: only a domain's top-level package crosses a package boundary; no `_private` module is
  imported from outside its parent (import-linter, boundaries.py);
- generated contracts: each package's `.importlinter` is current and its CI workflow runs it;
- import circles: no module of a package imports itself back through others (cycles.py, over grimp);
- schemas: no library's SQL names a schema another library declares (schemas.py);
- data access: a domain's SQL is in its repository.py, as psycopg `%(name)s` texts (data_access.py);
- CODEOWNERS: `.github/CODEOWNERS` is what the declared owners give (codeowners.py);
- code standards: ruff and mypy as configured in the root's ruff.toml / mypy.ini, and the commit hooks
  and each package's CI installing the same versions (lint.py).

Needs the tools venv (for lint-imports, ruff, mypy); `make test` runs this first and counts each check.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

from . import boundaries, codeowners, cycles, data_access, lint, schemas, tools
from .config import Layout
from .findings import Finding


def checks(layout: Layout) -> list[tuple[str, Callable[[], list[Finding]]]]:
    root = layout.root
    return [
        ("import boundaries (import-linter)", lambda: boundaries.check_imports(layout)),
        ("no import circles (grimp)", lambda: cycles.check(layout)),
        ("per-package contracts and CI", lambda: boundaries.check_generated(root, root / tools.REQUIREMENTS)),
        ("schema ownership in SQL", lambda: schemas.check(root)),
        ("data access in repositories", lambda: data_access.check(root)),
        ("CODEOWNERS", lambda: codeowners.check(root)),
        ("ruff (ruff.toml)", lambda: lint.check_ruff(layout)),
        ("mypy (mypy.ini)", lambda: lint.check_mypy(layout)),
        ("pre-commit and package CI pin make check's ruff and mypy", lambda: lint.check_pins(root, root / tools.REQUIREMENTS)),
    ]


def run(layout: Layout, out=sys.stdout) -> tuple[int, int]:
    """Run every check, print findings; returns (checks passed, checks failed)."""
    passed = failed = 0
    for name, fn in checks(layout):
        found = fn()
        if found:
            failed += 1
            for f in found:
                print(f, file=out)
            print(f"check {name}: {len(found)} finding(s)", file=out, flush=True)
        else:
            passed += 1
            print(f"check {name}: ok", file=out, flush=True)
    return passed, failed


def main(layout: Layout) -> int:
    if not os.environ.get("ACME_TOOLS_VENV", "").strip():
        tools.ensure(layout, layout.log("tools"))
    # else: a venv shared with another tree (make test's, used by the tests' throwaway copies) is used as
    # it is, never rebuilt: ensure() would see another interpreter's fingerprint and reinstall it under
    # the feet of the suites running on it.
    passed, failed = run(layout)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def generate(layout: Layout) -> int:
    """Rewrite every file derived from the declarations (`make generate`)."""
    written = [codeowners.write(layout.root), *boundaries.write(layout.root)]
    for path in written:
        print(f"wrote {path.relative_to(layout.root)}")
    return 0
