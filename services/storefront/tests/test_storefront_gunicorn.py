"""The service as it is deployed: gunicorn.conf.py, gevent workers, the app factory string from
pyproject's [tool.acme.service] command, over real HTTP."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import pytest
import requests

from conftest import PASSWORD

SERVICE_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(service_database_url, tmp_path):
    spec = tomllib.loads((SERVICE_DIR / "pyproject.toml").read_text())["tool"]["acme"]["service"]
    assert spec["command"][0] == "gunicorn"
    port = free_port()
    env = dict(os.environ, DATABASE_URL=service_database_url, ACME_SERVICE_NAME="storefront",
               ACME_WEB_WORKERS="2", **{spec["port_env"]: str(port)})
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", *spec["command"]], cwd=SERVICE_DIR / spec["cwd"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not become ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


def test_main_flow_over_http_under_gunicorn_with_gevent_workers(server, make_product, fund, poll):
    http = requests.Session()
    product = make_product(price_cents=1_999, stock=3)
    email = f"{uuid.uuid4().hex[:12]}@example.com"

    created = http.post(f"{server}/v1/customers", json={"email": email, "password": PASSWORD, "name": "Gun Icorn"})
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    issued = http.post(f"{server}/v1/tokens", json={"email": email, "password": PASSWORD})
    assert issued.status_code == 201
    auth = {"Authorization": f"Bearer {issued.json()['token']}"}
    fund(customer_id, 5_000)

    assert http.get(f"{server}/v1/products/{product.sku}").json()["available"] == 3
    placed = http.post(f"{server}/v1/orders", json={"items": [{"sku": product.sku, "quantity": 2}]},
                       headers=auth | {"Idempotency-Key": "gunicorn-1"})
    assert placed.status_code == 201, placed.text
    replay = http.post(f"{server}/v1/orders", json={"items": [{"sku": product.sku, "quantity": 2}]},
                       headers=auth | {"Idempotency-Key": "gunicorn-1"})
    assert replay.status_code == 200 and replay.json() == placed.json()
    assert http.get(f"{server}/v1/wallet", headers=auth).json() == {"balance_cents": 5_000 - 3_998, "currency": "USD"}
    assert [o["id"] for o in http.get(f"{server}/v1/orders", headers=auth).json()["items"]] == [placed.json()["id"]]

    bad = http.post(f"{server}/v1/orders", data="{nope", headers=auth | {"Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"

    cancelled = http.post(f"{server}/v1/orders/{placed.json()['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert http.get(f"{server}/v1/wallet", headers=auth).json()["balance_cents"] == 5_000

    # Let both workers cache the token, then log out: every worker must refuse it within a second.
    for _ in range(10):
        assert http.get(f"{server}/v1/wallet", headers=auth).status_code == 200
    assert http.delete(f"{server}/v1/tokens/current", headers=auth).status_code == 204
    poll(lambda: all(requests.get(f"{server}/v1/wallet", headers=auth).status_code == 401 for _ in range(6)),
         within=1.0)
    assert "bearer" in http.get(f"{server}/openapi.json").json()["components"]["securitySchemes"]
