"""Validate the cluster manifests and the Dockerfiles offline: `python deploy/k8s/validate.py [ROOT]`.

Run with the tools venv's Python (`.run/tools/bin/python`; `make manifests`, and tests/test_manifests.py):
it has the pinned kubectl (its built-in kustomize), kubernetes-validate (with PyYAML) and hadolint from
deploy/requirements-tools.txt. Nothing here talks to a cluster or builds an image.

1. render   `kubectl kustomize` of every overlay, in a scratch copy where each secrets/*.example stands in
            for the real (never committed) env file;
2. schema   `kubernetes-validate --strict` of the rendered YAML: unknown or mistyped fields fail;
3. policy   what the schema allows but this platform does not: every Deployment's containers have a
            readinessProbe on /readyz (or a TCP check), a livenessProbe and CPU + memory requests; every
            Deployment has a PodDisruptionBudget selecting its pods; the migration Job runs
            `acmectl migrate`; no Secret is written inline in the manifests (only generated from files);
4. hadolint every Dockerfile under services/ and deploy/.
Each finding is one line; exit 1 if there is any.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def render(k8s: Path, scratch: Path) -> dict[str, str]:
    shutil.copytree(k8s, scratch, dirs_exist_ok=True)
    for example in scratch.glob("overlays/*/secrets/*.example"):
        shutil.copyfile(example, example.with_suffix(""))
    out = {}
    for overlay in sorted((scratch / "overlays").iterdir()):
        res = subprocess.run([BIN / "kubectl", "kustomize", overlay], capture_output=True, text=True)
        if res.returncode != 0:
            raise Finding(f"{overlay.relative_to(scratch)}: kubectl kustomize failed: "
                          + (res.stderr.strip().splitlines() or ["?"])[-1])
        out[overlay.name] = res.stdout
    return out


class Finding(Exception):
    pass


def schema(name: str, rendered: str, scratch: Path) -> list[str]:
    path = scratch / f"{name}.rendered.yaml"
    path.write_text(rendered)
    res = subprocess.run([BIN / "kubernetes-validate", "--strict", "--quiet", "--no-warn", path],
                         capture_output=True, text=True)
    if res.returncode == 0:
        return []
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    return [f"overlays/{name}: {line.replace(str(path), 'rendered')}" for line in lines] or \
        [f"overlays/{name}: kubernetes-validate exited {res.returncode}"]


def _selects(selector: dict, labels: dict) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def policy(name: str, rendered: str) -> list[str]:
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    findings = []
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for d in docs:
        where = f"overlays/{name}: {d['kind']} {d['metadata']['name']}"
        if d["kind"] == "Deployment":
            pod = d["spec"]["template"]
            for c in pod["spec"]["containers"]:
                if "readinessProbe" not in c:
                    findings.append(f"{where}: container {c['name']} has no readinessProbe")
                elif "httpGet" in c["readinessProbe"] and c["readinessProbe"]["httpGet"].get("path") != "/readyz":
                    findings.append(f"{where}: container {c['name']}'s readinessProbe is not GET /readyz")
                if "livenessProbe" not in c:
                    findings.append(f"{where}: container {c['name']} has no livenessProbe")
                elif "httpGet" in c["livenessProbe"] and c["livenessProbe"]["httpGet"].get("path") != "/healthz":
                    findings.append(f"{where}: container {c['name']}'s livenessProbe is not GET /healthz")
                requests = (c.get("resources") or {}).get("requests") or {}
                for resource in ("cpu", "memory"):
                    if resource not in requests:
                        findings.append(f"{where}: container {c['name']} requests no {resource}")
            labels = pod["metadata"].get("labels") or {}
            if not any(_selects(p["spec"].get("selector"), labels) for p in pdbs):
                findings.append(f"{where}: no PodDisruptionBudget selects its pods")
    jobs = [d for d in docs if d["kind"] == "Job"]
    if not any(c.get("command", [])[:2] == ["acmectl", "migrate"] for j in jobs
               for c in j["spec"]["template"]["spec"]["containers"]):
        findings.append(f"overlays/{name}: no Job runs `acmectl migrate`")
    return findings


def no_inline_secrets(k8s: Path) -> list[str]:
    """Secrets come from files the overlay's secretGenerator reads (never committed), not from manifests."""
    findings = []
    for path in sorted(k8s.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                findings.append(f"{path.relative_to(k8s.parent.parent)}: Secret {doc['metadata']['name']} is written "
                                "inline; generate it from a file (secretGenerator)")
    return findings


def hadolint(root: Path) -> list[str]:
    files = sorted([*root.glob("services/*/Dockerfile"), *root.glob("deploy/**/Dockerfile")])
    res = subprocess.run([BIN / "hadolint", "--no-color", *files], capture_output=True, text=True, cwd=root)
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    if res.returncode != 0 and not lines:
        lines = [f"hadolint exited {res.returncode}: {res.stderr.strip()}"]
    return [line.replace(str(root) + "/", "") for line in lines]


def main(root: Path) -> int:
    findings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="acme-k8s-") as tmp:
        scratch = Path(tmp)
        try:
            overlays = render(root / "deploy" / "k8s", scratch / "k8s")
        except Finding as e:
            overlays, findings = {}, [str(e)]
        for name, rendered in overlays.items():
            findings += schema(name, rendered, scratch)
            findings += policy(name, rendered)
    findings += no_inline_secrets(root / "deploy" / "k8s")
    findings += hadolint(root)
    for f in findings:
        print(f)
    print(f"manifests: {len(overlays)} overlay(s) rendered; {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]).resolve()))
