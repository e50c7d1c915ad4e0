"""The operator console through Flask's test client against the real database: log-in, the cookie's
flags, CSRF, log-out revoking the token everywhere, customers refused, every page and its JSON twin,
and the audit log. (The browser drives the same pages in tests/test_e2e_console_browser.py.)"""
from __future__ import annotations

import re
import time
import uuid

import pytest

from .helpers import PASSWORD

PAGES = ["platform", "schemas", "dependencies", "events", "roles"]


def _form_csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def _eventually(check, within: float = 2.0) -> bool:
    """A revocation reaches every process's token cache through LISTEN/NOTIFY (acme_identity.Authenticator):
    bounded, not instant, even in this process."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _log_in(client, email: str, password: str = PASSWORD, **kwargs):
    page = client.get("/console/login")
    assert page.status_code == 200
    return client.post("/console/login", data={"email": email, "password": password,
                                               "csrf_token": _form_csrf(page.get_data(as_text=True))}, **kwargs)


@pytest.fixture
def console(app, staff):
    client = app.test_client()
    resp = _log_in(client, staff.email)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/console/platform"), resp.get_data(True)
    return client


def test_pages_need_a_session(client):
    for name in PAGES:
        resp = client.get(f"/console/{name}")
        assert resp.status_code == 303 and "/console/login" in resp.headers["Location"], name
        assert client.get(f"/v1/console/{name}").status_code == 401


def test_log_in_sets_a_strict_httponly_cookie_and_every_page_renders(app, staff):
    client = app.test_client()
    resp = _log_in(client, staff.email)
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("acme_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    for name in PAGES:
        page = client.get(f"/console/{name}")
        assert page.status_code == 200, (name, page.get_data(as_text=True)[:500])
        assert 'name="csrf_token"' in page.get_data(as_text=True)   # the log-out form at least
        data = client.get(f"/v1/console/{name}")
        assert data.status_code == 200 and data.is_json, name


def test_forwarded_proto_from_an_untrusted_peer_does_not_make_the_cookie_secure(app, staff):
    client = app.test_client()
    resp = _log_in(client, staff.email, headers={"X-Forwarded-Proto": "https"})
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("acme_console="))
    assert "Secure" not in cookie


def test_served_over_tls_the_cookie_is_secure(app, staff):
    client = app.test_client()
    page = client.get("/console/login", base_url="https://localhost")
    resp = client.post("/console/login", base_url="https://localhost",
                       data={"email": staff.email, "password": PASSWORD,
                             "csrf_token": _form_csrf(page.get_data(as_text=True))})
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("acme_console="))
    assert "Secure" in cookie


def test_customers_cannot_log_in(app, customer):
    client = app.test_client()
    resp = _log_in(client, customer.email)
    assert resp.status_code == 401 and "not a staff account" in resp.get_data(as_text=True)
    assert client.get_cookie("acme_console") is None
    assert client.get("/console/platform").status_code == 303


def test_log_in_without_the_form_token_is_refused(app, staff):
    client = app.test_client()
    client.get("/console/login")
    resp = client.post("/console/login", data={"email": staff.email, "password": PASSWORD})
    assert resp.status_code == 403 and resp.json["code"] == "console.csrf"
    assert client.get_cookie("acme_console") is None


def test_a_post_without_the_sessions_csrf_token_is_refused(console):
    for path in ("/console/logout", "/console/events/dead-letters/1/discard"):
        resp = console.post(path, data={})
        assert resp.status_code == 403 and resp.json["code"] == "console.csrf", path
        resp = console.post(path, data={"csrf_token": "0" * 64})
        assert resp.status_code == 403, path
    assert console.get("/console/platform").status_code == 200   # still logged in


def test_log_out_revokes_the_token_and_is_audited(console, staff):
    token = console.get_cookie("acme_console").value
    bearer = {"Authorization": f"Bearer {token}"}
    assert console.get("/v1/console/platform", headers=bearer).status_code == 200   # the same token, as a script
    csrf = _form_csrf(console.get("/console/platform").get_data(as_text=True))
    resp = console.post("/console/logout", data={"csrf_token": csrf})
    assert resp.status_code == 303
    assert console.get("/console/platform").status_code == 303   # the browser's cookie is gone at once
    assert _eventually(lambda: console.get("/v1/console/platform", headers=bearer).status_code == 401)
    # A stolen copy of the cookie is as dead as the browser's.
    console.set_cookie("acme_console", token)
    assert console.get("/console/events").status_code == 303

    other = console.application.test_client()
    _log_in(other, staff.email)
    audit = other.get("/v1/console/roles").json["audit"]
    mine = [a for a in audit if a["actor"] == staff.email]
    assert {"console.login", "console.logout"} <= {a["action"] for a in mine}


def test_replaying_an_unknown_dead_letter_is_a_422_naming_the_field(console):
    csrf = _form_csrf(console.get("/console/events").get_data(as_text=True))
    resp = console.post("/console/events/dead-letters/999999999/replay", data={"csrf_token": csrf})
    assert resp.status_code == 422 and resp.json["field"] == "id"
    resp = console.post("/console/events/dead-letters/abc/replay", data={"csrf_token": csrf})
    assert resp.status_code == 422 and resp.json["field"] == "id"


def test_other_posts_must_still_be_json(client, staff):
    resp = client.post("/v1/tokens", data={"email": staff.email, "password": PASSWORD})
    assert resp.status_code == 415


def test_next_never_redirects_off_site(app, staff):
    client = app.test_client()
    page = client.get("/console/login?next=//evil.example/")
    resp = client.post("/console/login?next=//evil.example/", data={
        "email": staff.email, "password": PASSWORD, "csrf_token": _form_csrf(page.get_data(as_text=True))})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/console/platform")


def test_revoking_the_token_through_the_api_ends_the_browser_session(console):
    token = console.get_cookie("acme_console").value
    resp = console.delete("/v1/tokens/current", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 204
    assert _eventually(lambda: console.get("/console/platform").status_code == 303)


def test_the_login_form_is_throttled_like_the_api(app, database):
    """Identity's per-account throttle: wrong passwords through the form count, and once over the limit
    even the right password is refused with 429 and Retry-After. (A fresh account: the shared `staff`
    must stay usable by the other tests.)"""
    import acme_identity

    with database.unit_of_work() as uow:
        staff = acme_identity.register_staff(uow, email=f"throttled-{uuid.uuid4().hex[:8]}@example.com",
                                             password=PASSWORD, name="Throttled")
    client = app.test_client()
    statuses = [_log_in(client, staff.email, "wrong password!").status_code for _ in range(11)]
    assert set(statuses[:10]) == {401} and statuses[10] == 429, statuses
    resp = _log_in(client, staff.email)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert client.get_cookie("acme_console") is None


def _dead_letter(database, key: str) -> int:
    import sqlalchemy as sa

    with database.unit_of_work() as uow:
        return uow.execute(sa.text(
            "INSERT INTO acme_platform.dead_letters (consumer_group, domain, event_id, txid, topic, key, payload, "
            "created_at, error, attempts) VALUES ('console-test', 'orders', "
            "(SELECT coalesce(max(event_id), 0) + 1 FROM acme_platform.dead_letters), 1, 'orders.order_placed', "
            ":key, '[]', now(), 'AttributeError: planted', 5) RETURNING id"), {"key": key}).scalar_one()


def test_discard_and_replay_from_the_events_page_are_audited(app, database):
    import acme_identity

    with database.unit_of_work() as uow:
        other = acme_identity.register_staff(uow, email=f"ops-{uuid.uuid4().hex[:8]}@example.com",
                                             password=PASSWORD, name="Ops")
    client = app.test_client()
    _log_in(client, other.email)
    first, second = _dead_letter(database, "k-discard"), _dead_letter(database, "k-replay")
    page = client.get("/console/events").get_data(as_text=True)
    assert f'id="dead-letter-{first}"' in page and "AttributeError: planted" in page
    csrf = _form_csrf(page)

    resp = client.post(f"/console/events/dead-letters/{first}/discard", data={"csrf_token": csrf})
    assert resp.status_code == 303
    resp = client.post(f"/console/events/dead-letters/{second}/replay",
                       data={"csrf_token": csrf, "payload": "[1]"})
    assert resp.status_code == 422 and resp.json["field"] == "payload"   # not an object: nothing changes
    resp = client.post(f"/console/events/dead-letters/{second}/replay",
                       data={"csrf_token": csrf, "payload": '{"order_id": "x"}'})
    assert resp.status_code == 303

    letters = {d["id"]: d for d in client.get("/v1/console/events").json["dead_letters"]}
    assert letters[first]["status"] == "discarded"
    assert letters[second]["status"] == "replay" and letters[second]["payload"] == {"order_id": "x"}
    audit = [(a["actor"], a["action"], a["target"]) for a in client.get("/v1/console/events").json["audit"]]
    assert (other.email, "events.discard", f"dead letter {first}") in audit
    assert (other.email, "events.replay", f"dead letter {second}") in audit
    assert sum(1 for a in audit if a[2] == f"dead letter {second}") == 1   # the refused replay left nothing
    resp = client.post(f"/console/events/dead-letters/{first}/discard", data={"csrf_token": csrf})
    assert resp.status_code == 422 and "discarded" in resp.json["detail"]
