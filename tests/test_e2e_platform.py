"""What operators and clients rely on from every service: /healthz, /readyz (503 until the database is
migrated, then 200), /metrics, and the OpenAPI documents of the two HTTP APIs."""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("e2e_support")

from collections import Counter  # noqa: E402

from e2e_support import WORKERS, assert_problem, call, miss, poll  # noqa: E402

pytest_plugins = ["e2e_support"]

SERVICES = ["storefront", "backoffice", "fulfillment"]
DOMAINS = {
    "storefront": {"platform", "identity", "catalog", "billing", "orders"},
    "backoffice": {"platform", "identity", "catalog", "billing", "orders"},
    "fulfillment": {"platform", "catalog", "billing", "orders"},
}
API_PATHS = {
    "storefront": {
        ("/v1/customers", "post"), ("/v1/tokens", "post"), ("/v1/tokens/current", "delete"), ("/v1/products", "get"),
        ("/v1/products/{sku}", "get"), ("/v1/wallet", "get"), ("/v1/orders", "post"), ("/v1/orders", "get"),
        ("/v1/orders/{order_id}", "get"), ("/v1/orders/{order_id}/cancel", "post"),
    },
    "backoffice": {
        ("/v1/tokens", "post"), ("/v1/tokens/current", "delete"), ("/v1/products", "post"), ("/v1/products", "get"),
        ("/v1/products/{sku}", "get"), ("/v1/products/{sku}", "patch"), ("/v1/products/{sku}/stock", "post"),
        ("/v1/customers/{customer_id}/credits", "post"), ("/v1/orders", "get"), ("/v1/orders/{order_id}", "get"),
        ("/v1/ledger/check", "get"),
    },
}


def service(stack, name):
    return {"storefront": stack.storefront, "backoffice": stack.backoffice, "fulfillment": stack.fulfillment}[name]


@pytest.mark.parametrize("name", SERVICES)
def test_health_readiness_and_metrics(stack, name):
    svc = service(stack, name)
    health = call("GET", f"{svc.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert health.json()["service"] == name and health.json()["version"]

    ready = call("GET", f"{svc.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    assert set(ready.json()["domains"]) == DOMAINS[name]

    metrics = call("GET", f"{svc.url}/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE acme_http_requests_total counter" in metrics.text
    assert f'service="{name}"' in metrics.text
    if name == "fulfillment":
        assert f"fulfillment_consumer_running {WORKERS[name]:.1f}" in metrics.text
        assert "# TYPE fulfillment_event_lag_seconds histogram" in metrics.text


@pytest.mark.parametrize("name", sorted(API_PATHS))
def test_openapi_documents_the_api(stack, name):
    r = call("GET", f"{service(stack, name).url}/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    version = call("GET", f"{service(stack, name).url}/healthz").json()["version"]
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] and doc["info"]["version"] == version
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    missing = API_PATHS[name] - documented
    assert not missing, f"undocumented in {name}'s /openapi.json: {sorted(missing)}"


@pytest.mark.parametrize("name", SERVICES)
def test_unknown_routes_and_methods_are_problems(stack, name):
    svc = service(stack, name)
    assert_problem(call("GET", f"{svc.url}/v1/no-such-thing"), 404)
    assert_problem(call("DELETE", f"{svc.url}/healthz"), 405)


def test_backoffice_status_lists_every_live_worker_of_every_service(stack):
    """The instance registry across services: each gunicorn worker registers itself with the versions
    it runs; staff see them all, up to date and without version skew."""
    expected = WORKERS  # default worker counts (of this shape)

    latest: dict = {}

    def registered():
        r = call("GET", f"{stack.bo}/v1/status", headers=stack.staff.auth)
        assert r.status_code == 200, r.text
        latest.update(r.json())
        running = Counter(i["service"] for i in r.json()["instances"])
        return True if running == expected else miss(dict(running))

    poll(registered, within=30, interval=0.5, what="every worker registered")  # a wait, not a spec bound
    status = latest
    assert status["skew"] == [], status["skew"]
    assert all(d["up_to_date"] for d in status["installed"]), status["installed"]
    versions = {name: call("GET", f"{service(stack, name).url}/healthz").json()["version"] for name in expected}
    for instance in status["instances"]:
        assert instance["service_version"] == versions[instance["service"]] and instance["packages"], instance
    page = call("GET", f"{stack.bo}/status", headers=stack.staff.auth)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")


def test_readyz_is_503_until_migrated_then_200(launcher, make_database, expected_log_errors):
    # Against an empty database the fulfillment loop fails every poll until the migration lands.
    expected_log_errors.append("consumer fulfillment: batch failed")
    database = make_database()
    # One storefront worker is enough here: this is about readiness, not concurrency.
    services = [launcher.spawn("storefront", database, env={"ACME_WEB_WORKERS": "1"}),
                launcher.spawn("fulfillment", database)]
    try:
        launcher.wait(services, "/healthz")  # alive...
        for svc in services:  # ...but not ready: nothing is migrated yet
            body = assert_problem(call("GET", f"{svc.url}/readyz"), 503, code="platform.migrations_pending")
            assert body["pending"], body
        launcher.migrate("storefront", database)
        for svc in services:
            ready = call("GET", f"{svc.url}/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready", f"{svc.name}: {ready.text}"
        assert "fulfillment_consumer_running 1.0" in call("GET", f"{services[1].url}/metrics").text
    finally:
        launcher.stop(services)
