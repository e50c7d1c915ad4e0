"""What every Acme service serves besides its API: health, readiness, metrics, the OpenAPI document."""


def test_health_and_readiness(client):
    assert client.get("/healthz").json["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert set(ready.json["domains"]) >= {"identity", "catalog", "billing", "orders"}


def test_openapi_documents_every_endpoint(client):
    paths = client.get("/openapi.json").json["paths"]
    assert {"/v1/tokens", "/v1/tokens/current", "/v1/products", "/v1/products/{sku}", "/v1/products/{sku}/stock",
            "/v1/customers/{customer_id}/credits", "/v1/orders", "/v1/orders/{order_id}",
            "/v1/ledger/check"} <= set(paths)
    assert "patch" in paths["/v1/products/{sku}"]


def test_openapi_declares_the_bearer_scheme_on_protected_routes(client):
    doc = client.get("/openapi.json").json
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/v1/products"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/v1/tokens"]["post"]


def test_unknown_route_and_method_are_problems(client, auth):
    assert client.get("/v1/nope", headers=auth).mimetype == "application/problem+json"
    resp = client.put("/v1/products", headers=auth)
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
