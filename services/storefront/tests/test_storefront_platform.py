"""What the platform adds to every service, as the storefront exposes it."""
from __future__ import annotations


def test_health_and_readiness(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["service"] == "storefront-test"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_data(as_text=True)
    assert {"identity", "catalog", "billing", "orders"} <= set(ready.get_json()["domains"])


def test_metrics_count_requests_by_route(client):
    client.get("/v1/products")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="/v1/products"' in text and 'service="storefront-test"' in text


def test_openapi_documents_every_endpoint_from_the_validating_models(client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    expected = {
        "/v1/customers": {"post"}, "/v1/tokens": {"post"}, "/v1/tokens/current": {"delete"},
        "/v1/products": {"get"}, "/v1/products/{sku}": {"get"}, "/v1/wallet": {"get"},
        "/v1/orders": {"get", "post"}, "/v1/orders/{order_id}": {"get"}, "/v1/orders/{order_id}/cancel": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(doc["paths"].get(path, {})), path
    schemas = doc["components"]["schemas"]
    order_in = next(v for k, v in schemas.items() if k.startswith("OrderIn"))
    assert order_in["properties"]["items"]["maxItems"] == 50
    line = next(v for k, v in schemas.items() if k.endswith("OrderItemIn"))
    assert line["properties"]["quantity"]["maximum"] == 100
    post_orders = doc["paths"]["/v1/orders"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post_orders["parameters"])
    assert post_orders["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/v1/products"]["get"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_unknown_routes_and_methods_are_problems(client, problem):
    problem(client.get("/v1/nope"), 404)
    resp = client.put("/v1/products")
    problem(resp, 405)
    assert "GET" in resp.headers["Allow"]


def test_request_ids_are_echoed(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
