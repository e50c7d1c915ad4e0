"""Behaviour that only shows in a brand-new process (module-level caches still empty)."""
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    from acme_platform import Settings
    from backoffice.app import create_app

    app = create_app(Settings(database_url=sys.argv[1], service_name="backoffice-test"), json_logs=False)
    resp = app.test_client().post("/v1/tokens", json={"email": "nobody@example.com",
                                                      "password": "long enough password"})
    print(resp.status_code, resp.json["code"])
""")


def test_a_fresh_process_answers_a_log_in_for_an_unknown_email(service_database_url):
    # The first password check of a process may be the "no such account" path (a typo, a probe):
    # it must answer 401 like any other, not hang the worker.
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT, service_database_url], capture_output=True,
                              text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("POST /v1/tokens for an unknown email hung in a fresh process")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["401", "identity.bad_credentials"]
