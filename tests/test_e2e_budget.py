"""The connection budget with the real services (acme_platform.budget): `acmectl budget` prints each side
and fits as the stack runs; one instance too many, or a reserve the server cannot keep, is refused with
one line carrying the numbers; a gunicorn whose workers would oversubscribe its role does not start.
(In tests:e2e-pgbouncer the same tests run behind PgBouncer, where a role's requests cost its pool there.)"""
from __future__ import annotations

import subprocess

import pytest

pytest_plugins = ["e2e_support"]


def _budget(launcher, database, service: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(launcher.venv(service) / "bin" / "acmectl"), "budget"],
                          env={**launcher.env(service, database), **env}, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("service", ["storefront", "backoffice", "fulfillment"])
def test_the_stack_as_it_runs_fits_its_budget(launcher, databases, service):
    res = _budget(launcher, databases.main, service,
                  **({"ACME_WEB_WORKERS": "1"} if service == "fulfillment" else {}))   # it always runs one
    assert res.returncode == 0, res.stdout + res.stderr
    mine, server = res.stdout.strip().splitlines()
    assert mine.startswith(f"{service}: ") and "fits its role's limit" in mine
    assert server.startswith("server: ") and "fits max_connections" in server
    assert f"_svc_{service} " in server       # the service roles of this database, read from pg_roles


def test_one_instance_too_many_is_refused_with_the_numbers(launcher, databases):
    res = _budget(launcher, databases.main, "storefront", ACME_INSTANCES="13")   # too many straight or behind PgBouncer
    assert res.returncode == 1
    error = res.stderr.strip().splitlines()
    assert len(error) == 1, res.stderr
    assert "connection budget exceeded: storefront: " in error[0]
    assert "EXCEEDS its role's limit 60" in error[0]


def test_a_reserve_the_server_cannot_keep_is_refused_with_the_numbers(launcher, databases):
    res = _budget(launcher, databases.main, "backoffice", ACME_DB_RESERVE_CONNECTIONS="290")
    assert res.returncode == 1
    error = res.stderr.strip().splitlines()
    assert len(error) == 1, res.stderr
    assert "connection budget exceeded: server: " in error[0] and "290 reserve" in error[0]


def test_a_gunicorn_that_would_oversubscribe_its_role_refuses_to_start(launcher, databases, expected_log_errors):
    expected_log_errors.append("refuses to start")
    # 16 workers: 16 × 10 + 33 straight, or 10 + 33 behind PgBouncer, both over backoffice's 40.
    svc = launcher.spawn("backoffice", databases.main, env={"ACME_WEB_WORKERS": "16"})
    try:
        assert svc.process.wait(timeout=60) != 0
    finally:
        svc.stop()
    log = svc.log_text()
    refusal = [line for line in log.splitlines() if "refuses to start" in line]
    assert refusal == [refusal[0]] and "connection budget exceeded: backoffice: " in refusal[0], log
    assert "EXCEEDS its role's limit 40" in refusal[0]
    assert "Traceback" not in log
