"""The cluster manifests (deploy/k8s) render, validate and follow the platform's rules, and the Dockerfiles
pass hadolint: all offline, with the pinned tools of the tools venv (deploy/k8s/validate.py). Each check
is shown to fail on a planted error in a throwaway copy of the tree."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest


def _tools_python() -> Path:
    return Path(os.environ["ACME_TEST_TOOLS_BIN"]) / "python"


def _validate(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(_tools_python()), str(root / "deploy" / "k8s" / "validate.py"), str(root)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def copy(repo_root, tmp_path) -> Path:
    """The parts of the tree the validation reads, in a throwaway copy to plant errors in."""
    root = tmp_path / "repo"
    shutil.copytree(repo_root / "deploy" / "k8s", root / "deploy" / "k8s",
                    ignore=shutil.ignore_patterns("*.env", "pgbouncer-userlist.txt"))
    for dockerfile in (repo_root / "services").glob("*/Dockerfile"):
        (root / "services" / dockerfile.parent.name).mkdir(parents=True)
        shutil.copyfile(dockerfile, root / "services" / dockerfile.parent.name / "Dockerfile")
    return root


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def test_the_manifests_and_dockerfiles_as_committed_pass(repo_root):
    res = _validate(repo_root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1] == "manifests: 1 overlay(s) rendered; 0 finding(s)"


def test_a_deployment_without_probes_fails(copy):
    manifest = copy / "deploy" / "k8s" / "base" / "storefront.yaml"
    text = manifest.read_text()
    text = re.sub(r"\n          livenessProbe:\n(?:            .*\n)+", "\n", text)
    text = re.sub(r"\n          readinessProbe:\n(?:            .*\n)+", "\n", text)
    manifest.write_text(text)
    res = _validate(copy)
    assert res.returncode == 1
    assert "Deployment storefront: container storefront has no readinessProbe" in res.stdout
    assert "Deployment storefront: container storefront has no livenessProbe" in res.stdout


def test_an_invalid_field_fails_the_schema(copy):
    _edit(copy / "deploy" / "k8s" / "base" / "backoffice.yaml", "  revisionHistoryLimit: 3\n",
          "  revisionHistoryLimit: 3\n  replicaz: 2\n")
    res = _validate(copy)
    assert res.returncode == 1
    assert "replicaz" in res.stdout, res.stdout


def test_a_deployment_without_a_disruption_budget_fails(copy):
    manifest = copy / "deploy" / "k8s" / "base" / "fulfillment.yaml"
    manifest.write_text(manifest.read_text().split("---\napiVersion: policy/v1")[0])
    res = _validate(copy)
    assert res.returncode == 1
    assert "Deployment fulfillment: no PodDisruptionBudget selects its pods" in res.stdout


def test_an_inline_secret_fails(copy):
    (copy / "deploy" / "k8s" / "base" / "leak.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  DATABASE_URL: postgresql://x\n")
    _edit(copy / "deploy" / "k8s" / "base" / "kustomization.yaml", "  - fulfillment.yaml\n",
          "  - fulfillment.yaml\n  - leak.yaml\n")
    res = _validate(copy)
    assert res.returncode == 1
    assert "Secret leak is written inline" in res.stdout


def test_a_dockerfile_hadolint_refuses_fails(copy):
    _edit(copy / "services" / "storefront" / "Dockerfile", "FROM python:3.11-slim AS builder",
          "FROM python:3.11-slim AS builder\nRUN apt-get update && apt-get install -y curl")
    res = _validate(copy)
    assert res.returncode == 1
    assert re.search(r"services/storefront/Dockerfile:\d+ DL3008", res.stdout), res.stdout
