"""The cross-service e2e suite against the all-in-one deployable (`make test` suite tests:e2e-monolith).

The same tests/test_e2e_*.py files, with ACME_E2E_SHAPE=monolith: tests/e2e_support.py then starts
`stack` and `quiet_stack` as one gunicorn each (acme_platform.allinone), from a venv built exactly as
`make up SHAPE=monolith` builds it (monolith.ensure_venv: the union of the services' locks, refused if
they disagree, plus the service packages).
"""
from __future__ import annotations

from pathlib import Path

from . import monolith, projects
from .config import Layout
from .index import Index

SUITE = "tests:e2e-monolith"


def monolith_env(layout: Layout, idx: Index, log: Path) -> dict[str, str]:
    venv, _ = monolith.ensure_venv(layout, projects.services(layout.root), idx, log)
    return {"ACME_E2E_SHAPE": "monolith", "ACME_TEST_MONOLITH_VENV": str(venv)}
