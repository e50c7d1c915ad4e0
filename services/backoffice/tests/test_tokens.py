"""POST /v1/tokens (staff log-in) and DELETE /v1/tokens/current (log-out)."""
import time
from datetime import datetime, timezone

import pytest

from .helpers import PASSWORD, assert_problem


def test_staff_logs_in_and_the_token_works(client, staff):
    resp = client.post("/v1/tokens", json={"email": staff.email, "password": PASSWORD})
    assert resp.status_code == 201
    body = resp.json
    assert set(body) == {"token", "expires_at"}
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires.utcoffset().total_seconds() == 0
    assert expires > datetime.now(timezone.utc)
    assert client.get("/v1/products", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200


def test_email_is_case_insensitive(client, staff):
    resp = client.post("/v1/tokens", json={"email": staff.email.upper(), "password": PASSWORD})
    assert resp.status_code == 201


@pytest.mark.parametrize("which", ["wrong password", "unknown email", "customer account"])
def test_anything_but_staff_credentials_is_401(client, staff, customer, which):
    email, password = {
        "wrong password": (staff.email, PASSWORD + "x"),
        "unknown email": ("nobody@example.com", PASSWORD),
        "customer account": (customer.email, PASSWORD),
    }[which]
    body = assert_problem(client.post("/v1/tokens", json={"email": email, "password": password}), 401,
                          code="identity.bad_credentials")
    assert PASSWORD not in str(body)


@pytest.mark.parametrize("payload,field", [
    ({"password": PASSWORD}, "email"),
    ({"email": "a@example.com"}, "password"),
    ({"email": 42, "password": PASSWORD}, "email"),
    ({"email": "a@example.com", "password": None}, "password"),
    ({"email": "a\u0000@example.com", "password": PASSWORD}, "email"),
    ({"email": "a@example.com", "password": PASSWORD, "kind": "staff"}, "kind"),
])
def test_malformed_log_in_is_422_naming_the_field(client, payload, field):
    assert_problem(client.post("/v1/tokens", json=payload), 422, field=field)


@pytest.mark.parametrize("data,content_type,status", [
    ("{oops", "application/json", 422),
    ("email=a@example.com", "application/x-www-form-urlencoded", 415),
    ("email=a@example.com", "text/plain", 415),
    ("", "application/x-www-form-urlencoded", 415),
    ("[]", "application/json", 422),
    ("[" * 100_000 + "]" * 100_000, "application/json", 422),
])
def test_non_json_log_in_is_4xx(client, data, content_type, status):
    assert_problem(client.post("/v1/tokens", data=data, content_type=content_type), status)


def test_log_out_revokes_only_that_token(client, staff, auth):
    other = client.post("/v1/tokens", json={"email": staff.email, "password": PASSWORD}).json["token"]
    assert client.delete("/v1/tokens/current", headers=auth).status_code == 204
    # The revocation reaches this process's token cache through LISTEN/NOTIFY: bounded wait.
    deadline = time.monotonic() + 2
    while (resp := client.get("/v1/products", headers=auth)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert_problem(resp, 401, code="identity.token_revoked")
    assert client.get("/v1/products", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert_problem(client.delete("/v1/tokens/current", headers=auth), 401)
