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


def test_planted_ruff_findings_and_type_errors_fail_make_check_naming_file_and_line(tree, tools_venv):
    # One throwaway copy, four plants (each make check run costs a cold mypy pass):
    # an import nobody uses, at the end of a library module (ruff only: F401, E402), a noqa that suppresses nothing in the orchestrator
    # (ruff's RUF100: the suppressions in the tree stay real), and a type error in a service and in the
    # orchestrator (mypy only).
    lib, orchestrator, service = ("libs/acme-catalog/src/acme_catalog/service.py", "deploy/acme_stack/findings.py",
                                  "services/storefront/src/storefront/app.py")
    unused = plant(tree / lib, "import json  # planted")
    stale = plant(tree / orchestrator, "_PLANTED = 1  # noqa: BLE001")
    wrong = plant(tree / orchestrator, "_PLANTED_TOO: str = len('x')")
    typed = plant(tree / service, '_PLANTED: int = "not a number"')
    res = stack_command(tree, tools_venv)
    assert res.returncode != 0, res.stdout
    assert f"{lib}:{unused}: ruff: F401 [*] `json` imported but unused" in res.stdout, res.stdout
    assert f"{orchestrator}:{stale}: ruff: RUF100" in res.stdout, res.stdout
    assert "check ruff (ruff.toml): 3 finding(s)" in res.stdout  # F401 and E402 on the import, RUF100
    assert re.search(rf"^{re.escape(service)}:{typed}: mypy: Incompatible types in assignment .*\[assignment\]$",
                     res.stdout, re.M), res.stdout
    assert f"{orchestrator}:{wrong}: mypy: Incompatible types in assignment" in res.stdout, res.stdout
    assert "check mypy (mypy.ini): 2 finding(s)" in res.stdout
    assert _last(res) == "7 passed, 2 failed", res.stdout


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
    assert _last(res) == "8 passed, 1 failed", res.stdout


def test_the_pins_are_the_tools_venvs(repo_root, tools_venv):
    """The versions the hooks and CI are held to are the ones installed in the tools venv make check runs."""
    import subprocess
    for tool, pin in (("ruff", "0.17.5"), ("mypy", "2.4.1")):
        out = subprocess.run([str(tools_venv / "bin" / tool), "--version"], capture_output=True, text=True).stdout
        assert pin in out, out
        assert f"{tool}=={pin}" in (repo_root / "deploy/requirements-tools.txt").read_text()
