"""The GitHub workflows: the root one (runs .ci/run) and each package's own, written for a standalone
repository of that package. Validated offline against the GitHub workflow schema vendored in
check-jsonschema (tools venv), plus what a standalone repository needs; a planted error fails both.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def workflows(root: Path) -> list[Path]:
    return sorted([*root.glob(".github/workflows/*.yml"), *root.glob("libs/*/.github/workflows/*.yml"),
                   *root.glob("services/*/.github/workflows/*.yml")])


def validate(tools_venv: Path, files: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([str(tools_venv / "bin" / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, files)], capture_output=True, text=True, timeout=120)


def test_every_workflow_is_valid_against_the_vendored_schema(repo_root, tools_venv):
    files = workflows(repo_root)
    # The root's, and per package: ci.yml everywhere, release.yml for each library.
    assert len(files) == 1 + len(list(repo_root.glob("libs/*/pyproject.toml"))) * 2 \
        + len(list(repo_root.glob("services/*/pyproject.toml")))
    res = validate(tools_venv, files)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "validation done" in res.stdout


@pytest.mark.parametrize("break_it, expected", [
    (lambda t: t.replace("runs-on: ubuntu-latest", "runs-on: 42", 1), "runs-on"),
    (lambda t: t.replace("contents: read", "contents: readwrite", 1), "permissions"),
    (lambda t: t.replace("jobs:", "jobz:", 1), "jobs"),
])
def test_a_planted_error_fails_validation_naming_the_file(repo_root, tools_venv, tmp_path, break_it, expected):
    broken = tmp_path / "ci.yml"
    broken.write_text(break_it((repo_root / "libs/acme-catalog/.github/workflows/ci.yml").read_text()))
    res = validate(tools_venv, [broken])
    assert res.returncode != 0
    assert str(broken) in res.stdout + res.stderr and expected in res.stdout + res.stderr


def _ci(repo_root: Path) -> list[Path]:
    return sorted([*repo_root.glob("libs/*/.github/workflows/ci.yml"), *repo_root.glob("services/*/.github/workflows/ci.yml")])


def standalone_problems(text: str, *, library: bool) -> list[str]:
    """What a package's CI needs to run in that package's own repository."""
    problems = []
    for needed, why in [
        ("secrets.ACME_INDEX_URL", "installs from the private index (the secret with the deploy login)"),
        ("UV_DEFAULT_INDEX:", "the index reaches uv through the environment, never argv"),
        ("image: postgres:", "a PostgreSQL service container for the tests"),
        ("ACME_TEST_DATABASE_URL:", "the tests' database"),
        ("pytest", "runs the package's tests"),
        ("check --config .standards/ruff.toml", "the tree's ruff config"),
        ("--config-file .standards/mypy.ini", "the tree's mypy config"),
        ("lint-imports", "the package's import contract"),
    ]:
        if needed not in text:
            problems.append(f"missing {needed!r}: {why}")
    if "libs/" in text.replace(".github", "") or "../" in text or "working-directory" in text:
        problems.append("refers to the tree around the package: a standalone repository has none")
    if "--extra-index-url" in text or "UV_EXTRA_INDEX" in text:
        problems.append("a second index")
    if not library and "--require-hashes requirements.lock" not in text:
        problems.append("a service installs its hash-checked lock")
    return problems


def test_each_package_ci_would_run_in_its_own_repository(repo_root):
    found = {str(p.relative_to(repo_root)): standalone_problems(p.read_text(), library="/libs/" in str(p))
             for p in _ci(repo_root)}
    assert found and all(v == [] for v in found.values()), found


def test_the_standalone_check_catches_a_tree_relative_workflow(repo_root):
    old = (repo_root / "libs/acme-catalog/.github/workflows/ci.yml").read_text()
    planted = old.replace("-e '.[test]'", "-e ../acme-platform -e '.[test]'").replace("check --config .standards/ruff.toml", "check")
    problems = standalone_problems(planted, library=True)
    assert any("standalone repository has none" in p for p in problems), problems
    assert any("ruff.toml" in p for p in problems), problems


def test_each_library_has_a_release_job_uploading_with_its_teams_login(repo_root):
    for lib in sorted(repo_root.glob("libs/*/pyproject.toml")):
        text = (lib.parent / ".github/workflows/release.yml").read_text()
        assert 'tags: ["v*"]' in text and "twine upload" in text, lib
        assert "secrets.ACME_INDEX_PUBLISH_PASSWORD" in text and "TWINE_PASSWORD:" in text, lib


def test_the_root_workflow_runs_ci_run(repo_root):
    text = (repo_root / ".github/workflows/ci.yml").read_text()
    assert "bash .ci/run" in text and 'CI: "true"' in text
