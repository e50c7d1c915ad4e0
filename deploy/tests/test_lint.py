"""`make check`'s code standards (deploy/acme_stack/lint.py): ruff and mypy as configured once in the root's
ruff.toml and mypy.ini, and the pins of the commit hooks and package CI. Each is shown to fail, naming the
file and line, on a violation planted in a throwaway copy of the tree; the unmodified copy passes
(test_check.py::test_real_tree_passes_and_leaves_the_shared_tools_venv_alone).
"""
from __future__ import annotations

import re

from conftest import plant, stack_command


def _last(res) -> str:
    return res.stdout.strip().splitlines()[-1]


def test_a_planted_ruff_finding_fails_make_check_with_file_line_and_code(tree, tools_venv):
    # An import nobody uses, in a library: a finding for ruff only (mypy has nothing to say about it).
    path = "libs/acme-catalog/src/acme_catalog/service.py"
    line = plant(tree / path, "import json  # planted")
    res = stack_command(tree, tools_venv)
    assert res.returncode != 0, res.stdout
    assert f"{path}:{line}: ruff: F401 [*] `json` imported but unused" in res.stdout, res.stdout
    assert "check ruff (ruff.toml): " in res.stdout and "finding(s)" in res.stdout
    assert _last(res) == "6 passed, 1 failed", res.stdout


def test_a_stale_noqa_is_a_finding(tree, tools_venv):
    # A noqa that suppresses nothing (RUF100): the suppressions in the tree stay real.
    path = "deploy/acme_stack/findings.py"
    line = plant(tree / path, "_PLANTED = 1  # noqa: BLE001")
    res = stack_command(tree, tools_venv)
    assert res.returncode != 0
    assert f"{path}:{line}: ruff: RUF100" in res.stdout, res.stdout
    assert _last(res) == "6 passed, 1 failed", res.stdout


def test_a_planted_type_error_fails_make_check_with_file_and_line(tree, tools_venv):
    # A type error in a service: ruff is fine with it, mypy is not.
    path = "services/storefront/src/storefront/app.py"
    line = plant(tree / path, '_PLANTED: int = "not a number"')
    res = stack_command(tree, tools_venv)
    assert res.returncode != 0, res.stdout
    assert re.search(rf"^{re.escape(path)}:{line}: mypy: Incompatible types in assignment .*\[assignment\]$",
                     res.stdout, re.M), res.stdout
    assert "check mypy (mypy.ini): 1 finding(s)" in res.stdout
    assert _last(res) == "6 passed, 1 failed", res.stdout


def test_a_type_error_in_the_orchestrator_is_found_too(tree, tools_venv):
    path = "deploy/acme_stack/findings.py"
    line = plant(tree / path, "_PLANTED: str = len('x')")
    res = stack_command(tree, tools_venv)
    assert f"{path}:{line}: mypy: Incompatible types in assignment" in res.stdout, res.stdout
    assert res.returncode != 0


def test_pre_commit_and_package_ci_must_pin_what_make_check_runs(tree, tools_venv):
    hooks = tree / ".pre-commit-config.yaml"
    text = hooks.read_text()
    assert "ruff==0.17.5" in text
    hooks.write_text(text.replace("ruff==0.17.5", "ruff==0.1.0"))
    hook_line = next(i for i, ln in enumerate(hooks.read_text().splitlines(), 1) if "ruff==0.1.0" in ln)
    ci = tree / "libs/acme-billing/.github/workflows/ci.yml"
    ci.write_text(ci.read_text().replace(" mypy==2.4.1", ""))
    res = stack_command(tree, tools_venv)
    assert res.returncode != 0
    assert f".pre-commit-config.yaml:{hook_line}: installs another ruff than make check runs: want ruff==0.17.5" \
        in res.stdout, res.stdout
    assert "libs/acme-billing/.github/workflows/ci.yml:1: does not install mypy==2.4.1" in res.stdout, res.stdout
    assert _last(res) == "6 passed, 1 failed", res.stdout


def test_the_pins_are_the_tools_venvs(repo_root, tools_venv):
    """The versions the hooks and CI are held to are the ones installed in the tools venv make check runs."""
    import subprocess
    for tool, pin in (("ruff", "0.17.5"), ("mypy", "2.4.1")):
        out = subprocess.run([str(tools_venv / "bin" / tool), "--version"], capture_output=True, text=True).stdout
        assert pin in out, out
        assert f"{tool}=={pin}" in (repo_root / "deploy/requirements-tools.txt").read_text()
