"""The operator console in a real browser: Debian's chromium driven by Playwright, against real services.

One stack of its own (storefront, backoffice, fulfillment on a fresh migrated database), so the skew
and dead-letter steps change nobody else's state. What a person would do, through the pages only:
- log in through the form (a customer's credentials are refused there), see every live instance;
- start the skew drill's new release, then its old one: the skew finding appears on the Platform page
  by itself (the page refreshes) with the action it calls for;
- a poison event is dead-lettered by fulfillment; replay it from the Events page with a corrected
  payload, and see it handled (status `replayed`) and the replay in the audit table;
- a form POST without the CSRF token is refused; after log-out no page loads, even with the old cookie.
Screenshots of every page go to $ACME_TEST_ARTIFACTS/console/ (kept in .run/test-logs/artifacts/console/
after `make test`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from playwright import sync_api as playwright_sync

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    PASSWORD, build_stack, call, create_product, funded_customer, place_order, poll, sign_up)
from test_skew_drill import Launcher as SkewLauncher  # noqa: E402
from test_skew_drill import drill, roles  # noqa: E402,F401 - `drill` is the drill's module fixture

pytest_plugins = ["e2e_support"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = ["platform", "schemas", "dependencies", "events", "roles"]
UI_TIMEOUT_MS = 30_000   # a page refreshes every 5 s; under a loaded 2-core machine give it room


@pytest.fixture(scope="module")
def shots() -> Path:
    root = Path(os.environ.get("ACME_TEST_ARTIFACTS") or tempfile.gettempdir()) / "console"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="module")
def console_stack(launcher, make_database):
    db = make_database()
    launcher.migrate("backoffice", db)
    # The Dependencies page reads the throwaway index with its read-only deploy login, as under `make up`.
    index = {"ACME_CONSOLE_INDEX_URL": os.environ["ACME_TEST_INDEX_URL"]}
    return build_stack(launcher, db, fulfillment=True, env={"backoffice": index})


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    with playwright_sync.sync_playwright() as pw:
        # A persistent context is the only way to hand chromium our own fresh --user-data-dir.
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900})
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _across_self_refresh(read, attempts: int = 5):
    """Runs `read` (a navigation, a locator read) again when the page's own 5 s refresh navigated under it.

    The console reloads itself (`location.reload()`); when that lands during the test's navigation or read,
    Chromium aborts one of the two navigations (net::ERR_ABORTED) or destroys the execution context the read
    ran in. Both say nothing about the console, so the read is repeated, a bounded number of times.
    """
    for attempt in range(attempts):
        try:
            return read()
        except playwright_sync.Error as exc:
            if attempt == attempts - 1 or not ("ERR_ABORTED" in str(exc) or "context was destroyed" in str(exc)):
                raise
    raise AssertionError("unreachable")


def _goto(page, url: str) -> None:
    _across_self_refresh(lambda: page.goto(url))


def _log_in(page, base: str, email: str, password: str = PASSWORD) -> None:
    _goto(page, f"{base}/console/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_console_in_a_real_browser(console_stack, browser, drill, shots, tmp_path, expected_log_errors):  # noqa: F811 - `drill` is the imported fixture
    expected_log_errors.append("moved to acme_platform.dead_letters")   # fulfillment says so, as an error
    stack = console_stack
    bo = stack.bo
    page = browser.new_page()

    # A logged-out browser is sent to the log-in form from every page.
    for name in PAGES:
        _goto(page, f"{bo}/console/{name}")
        assert page.url.startswith(f"{bo}/console/login"), (name, page.url)
    page.screenshot(path=str(shots / "login.png"))

    # A customer's credentials are refused at the form.
    customer = sign_up(stack)
    _log_in(page, bo, customer.email)
    page.wait_for_selector("text=not a staff account")
    assert page.url.startswith(f"{bo}/console/login")
    assert not [c for c in browser.cookies() if c["name"] == "acme_console"]

    # Staff log in and see every live instance of the stack.
    _log_in(page, bo, stack.staff.email)
    page.wait_for_url(f"{bo}/console/platform")
    cookie = next(c for c in browser.cookies() if c["name"] == "acme_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    with psycopg.connect(stack.database_url) as conn:
        live = {(s, p) for s, p in conn.execute("SELECT service, pid FROM acme_platform.instances").fetchall()}
    assert {s for s, _ in live} >= {"storefront", "backoffice", "fulfillment"}
    rows = page.locator("#instances tr").all_inner_texts()
    for service, pid in live:
        assert any(service in r and str(pid) in r for r in rows), (service, pid, rows)

    # Skew: the drill's new release first (no finding about it), then its old one: the page, refreshing
    # by itself, shows the finding with its action.
    venv_new = drill.service_venv("skewsvc-new", "1.1.0")
    venv_old = drill.service_venv("skewsvc-old", "1.0.0")
    logins = roles(venv_new, stack.database_url, tmp_path / "logins")
    res = drill.migrate("1.1.0", logins["migrator"])
    assert res.returncode == 0, res.stdout + res.stderr
    skew = SkewLauncher(tmp_path)
    skew.logins[stack.database_url] = logins["skewsvc"]
    try:
        skew.start("skewsvc-new", venv_new, stack.database_url)
        # No page.reload(): the page's own refresh shows the new instance (a reload racing that refresh was
        # aborted by Chromium, net::ERR_ABORTED, five times in a row in the all-in-one shape).
        page.locator("#instances tr", has_text="skewsvc-new").wait_for()
        findings = _across_self_refresh(lambda: page.locator(".finding").all_inner_texts())
        assert "acme-skewdemo" not in " ".join(findings)
        old = skew.start("skewsvc-old", venv_old, stack.database_url)
        finding = page.locator(".finding", has_text="skewsvc-old@")
        finding.wait_for()   # no reload here: the page refreshes itself
        text = finding.inner_text()
        assert f"(pid {old.pid}) runs acme-skewdemo 1.0.0, older than the newest live 1.1.0" in text, text
        assert "finish the rollout" in text
        page.screenshot(path=str(shots / "platform.png"), full_page=True)

        # The Dependencies page shows both versions of the library and draws them.
        _goto(page, f"{bo}/console/dependencies")
        assert page.locator("svg.deps-graph").count() == 1
        assert page.locator("svg.deps-graph text", has_text="acme-skewdemo 1.0.0 (behind)").count() == 1
        # The index holds acme-skewdemo 2.0.0 (the drill published it): a major bump above both pins.
        row = page.locator("#deps tr", has_text="skewsvc-old").filter(has_text="acme-skewdemo").inner_text()
        assert "1.0.0" in row and "1.1.0 (minor)" in row and "2.0.0 (major)" in row, row
        page.screenshot(path=str(shots / "dependencies.png"), full_page=True)
    finally:
        skew.stop_all()

    # Schemas and Roles render what the database holds.
    _goto(page, f"{bo}/console/schemas")
    assert page.locator("h2", has_text="acme_platform").count() == 1
    assert page.locator("table.ledger td", has_text="p0004").count() >= 1
    page.screenshot(path=str(shots / "schemas.png"), full_page=True)
    _goto(page, f"{bo}/console/roles")
    # The audit capability is declared by, and held by, the backoffice's login alone.
    holders = [r for r in page.locator("#service-roles tr").all_inner_texts() if "_acme_platform_audit" in r]
    assert len(holders) == 1 and "_svc_backoffice" in holders[0], holders
    assert "In sync" in page.locator("#drift").inner_text()
    page.screenshot(path=str(shots / "roles.png"), full_page=True)

    # A poison event: fulfillment dead-letters it; the operator replays it with a corrected payload.
    product = create_product(stack, price_cents=500, stock=5)
    buyer = funded_customer(stack, 5_000)
    order = place_order(stack, buyer, [(product["sku"], 1)])
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    poison_key = f"poison-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO orders.outbox (txid, topic, key, payload) VALUES "
                     "(pg_current_xact_id()::text::bigint, 'orders.order_placed', %s, '[]')", (poison_key,))

    def letter():
        with psycopg.connect(stack.database_url) as conn:
            return conn.execute("SELECT id, status FROM acme_platform.dead_letters WHERE key = %s",
                                (poison_key,)).fetchone()

    poll(lambda: letter() is not None, within=60, interval=0.2, what="poison event dead-lettered")
    letter_id, status = letter()
    assert status == "dead"
    _goto(page, f"{bo}/console/events")
    row = page.locator(f"#dead-letter-{letter_id}")
    assert "AttributeError" in row.inner_text(), row.inner_text()   # the handler's error, as the consumer saw it
    page.screenshot(path=str(shots / "events-dead-letter.png"), full_page=True)

    # The same form posted without its CSRF token (by script, with the browser's cookie) is refused.
    refused = page.request.post(f"{bo}/console/events/dead-letters/{letter_id}/replay", form={"payload": ""})
    assert refused.status == 403 and refused.json()["code"] == "console.csrf"
    assert letter()[1] == "dead"

    row.locator("textarea[name=payload]").fill(f'{{"order_id": "{order_id}"}}')
    row.locator("button[name=replay]").click()
    page.wait_for_selector(f"text=replay of dead letter {letter_id} requested")
    page.locator(f"#dead-letter-{letter_id}[data-status=replayed]").wait_for()   # handled by fulfillment
    audit = page.locator("#audit tr", has_text=f"dead letter {letter_id}").inner_text()
    assert "events.replay" in audit and stack.staff.email in audit
    page.screenshot(path=str(shots / "events.png"), full_page=True)
    order_now = call("GET", f"{stack.sf}/v1/orders/{order_id}", headers=buyer.auth).json()
    assert order_now["status"] == "fulfilled"

    # Log out: no page loads any more, not even with a copy of the old cookie put back.
    old_cookie = next(c for c in browser.cookies() if c["name"] == "acme_console")
    page.click("header button[type=submit]")
    page.wait_for_url(f"{bo}/console/login")
    browser.add_cookies([old_cookie])
    # The revocation reaches every backoffice process's token cache through LISTEN/NOTIFY: bounded, not instant.
    poll(lambda: page.request.get(f"{bo}/v1/console/platform").status == 401, within=5, interval=0.1,
         what="revoked session refused")
    for name in PAGES:
        _goto(page, f"{bo}/console/{name}")
        assert page.url.startswith(f"{bo}/console/login"), (name, page.url)
    page.close()
    for name in ("login", "platform", "schemas", "dependencies", "events-dead-letter", "events", "roles"):
        assert (shots / f"{name}.png").stat().st_size > 0
    print(f"console screenshots in {shots}")
