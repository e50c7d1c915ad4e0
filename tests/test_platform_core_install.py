"""A domain library installs the platform's core only: no web stack (acme-platform 0.4, issue 15).

`pip install acme-catalog` from the throwaway index `make test` filled with this tree's builds, into an
empty venv (the standard library's venv and its own pip, no uv, no lock): the result holds no Flask,
gunicorn, gevent, spectree or prometheus-client, and the domain and `acmectl` still import and run
there. The counter-check resolves acme-platform[web] against the same index, so a wrong package name
in the list below would show up as a failure here rather than as a silent pass.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WEB_STACK = {"flask", "werkzeug", "gunicorn", "gevent", "spectree", "prometheus-client", "python-json-logger",
             "pydantic"}


def _env() -> dict[str, str]:
    # No machine pip configuration and no inherited index: the index below is the only one.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


def _run(cmd: list, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], env=_env(), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _name(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def index_url(test_env) -> str:
    return test_env["ACME_TEST_INDEX_URL"]


@pytest.fixture(scope="module")
def catalog_venv(tmp_path_factory, index_url) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    res = _run([base, "-m", "venv", venv])
    assert res.returncode == 0, res.stdout + res.stderr
    res = _run([venv / "bin" / "pip", "install", "--isolated", "--no-cache-dir", "--index-url", index_url,
                "acme-catalog"])
    assert res.returncode == 0, res.stdout + res.stderr
    return venv


def _installed(venv: Path) -> dict[str, str]:
    res = _run([venv / "bin" / "pip", "list", "--isolated", "--format=json"])
    assert res.returncode == 0, res.stderr
    return {_name(d["name"]): d["version"] for d in json.loads(res.stdout)}


def test_pip_install_acme_catalog_installs_no_web_stack(catalog_venv):
    installed = _installed(catalog_venv)
    assert "acme-catalog" in installed and "acme-platform" in installed, installed
    assert installed["acme-platform"].startswith("0.4."), installed
    assert sorted(WEB_STACK & set(installed)) == []
    # What the core does need came with it.
    assert {"sqlalchemy", "psycopg", "alembic"} <= set(installed), installed


def test_the_domain_and_acmectl_run_on_the_core_alone(catalog_venv):
    res = _run([catalog_venv / "bin" / "python", "-c",
                "import sys, acme_catalog, acme_platform\n"
                "from acme_platform import events\n"
                "from acme_platform.events import metrics\n"
                "metrics.RETRIES.labels('g').inc()\n"  # counts nothing without prometheus-client, never fails
                "web = [m for m in sys.modules if m.split('.')[0] in "
                "('flask', 'werkzeug', 'gunicorn', 'gevent', 'spectree', 'prometheus_client', 'pydantic')]\n"
                "print(acme_catalog.__name__, web)"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "acme_catalog []"
    res = _run([catalog_venv / "bin" / "acmectl", "--help"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "migrate" in res.stdout


def test_the_web_extra_brings_the_web_stack(catalog_venv, tmp_path, index_url):
    report = tmp_path / "report.json"
    res = _run([catalog_venv / "bin" / "pip", "install", "--isolated", "--no-cache-dir", "--index-url", index_url,
                "--dry-run", "--report", report, "acme-platform[web]"])
    assert res.returncode == 0, res.stdout + res.stderr
    would_install = {_name(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    assert {"flask", "gunicorn", "gevent", "spectree", "prometheus-client"} <= would_install, would_install
