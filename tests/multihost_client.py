"""The client host of the multi-host drill (tests/test_multihost_drill.py): runs inside its network namespace.

Seeds what the load needs (a product, 8 funded customers: staff calls to the backoffice, customers through the
balancer), then keeps 8 workers placing orders through the balancer until the drill asks it to stop. Every
order has its own Idempotency-Key and is retried with the SAME key after a connection error or a 502/503/504
(the balancer's answer when the instance it used died mid-request: whether the order was placed is unknown, and
the key makes the retry safe), until it gets an answer or its own deadline passes.

Configuration from the environment (no secret on the command line): DRILL_LB, DRILL_BACKOFFICE, DRILL_STAFF_EMAIL,
DRILL_STAFF_PASSWORD, DRILL_OUT (a folder: `ready`, `orders.jsonl`, then `done`; the drill creates `stop`),
DRILL_WORKERS (8), DRILL_MAX_SECONDS (a bound on the whole load).
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import requests

LB = os.environ["DRILL_LB"]
BO = os.environ["DRILL_BACKOFFICE"]
OUT = Path(os.environ["DRILL_OUT"])
WORKERS = int(os.environ.get("DRILL_WORKERS", "8"))
MAX_SECONDS = float(os.environ.get("DRILL_MAX_SECONDS", "120"))
ORDER_DEADLINE = 30.0      # one order: answered within this, retries included
RETRYABLE = (502, 503, 504)
TIMEOUT = 15


def request(method: str, url: str, **kwargs) -> requests.Response:
    # A new connection per request: the balancer picks an instance for each one.
    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)


def seed_request(method: str, url: str, within: float = 60, **kwargs) -> requests.Response:
    """A seeding call, retried while the balancer or a busy instance says "not now" (bounded): on a saturated
    machine both storefronts can fail a health check at once. Seeding is not what the drill measures; a retry
    whose first attempt did go through fails loudly (409: the email is taken) rather than passing wrongly."""
    deadline = time.monotonic() + within
    while True:
        try:
            r = request(method, url, **kwargs)
            if r.status_code not in RETRYABLE or time.monotonic() > deadline:
                return r
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def wait_ready(url: str, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if request("GET", f"{url}/readyz").status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url}/readyz did not answer 200 within {within:.0f}s")
        time.sleep(0.2)


def expect(r: requests.Response, status: int) -> dict:
    if r.status_code != status:
        raise SystemExit(f"{r.request.method} {r.url}: {r.status_code} {r.text[:300]}")
    return r.json()


def seed() -> tuple[str, list[dict[str, str]]]:
    wait_ready(BO)
    wait_ready(LB)
    staff = expect(seed_request("POST", f"{BO}/v1/tokens", json={"email": os.environ["DRILL_STAFF_EMAIL"],
                                                             "password": os.environ["DRILL_STAFF_PASSWORD"]}), 201)
    staff_auth = {"Authorization": f"Bearer {staff['token']}"}
    sku = f"DRILL-{uuid.uuid4().hex[:8]}".upper()
    expect(seed_request("POST", f"{BO}/v1/products", headers=staff_auth,
                   json={"sku": sku, "name": "Drill widget", "description": "", "price_cents": 100,
                         "currency": "USD", "stock": 1_000_000}), 201)
    customers = []
    for i in range(WORKERS):
        email, password = f"drill-{i}-{uuid.uuid4().hex[:8]}@example.com", uuid.uuid4().hex
        body = expect(seed_request("POST", f"{LB}/v1/customers",
                              json={"email": email, "password": password, "name": f"Drill {i}"}), 201)
        expect(seed_request("POST", f"{BO}/v1/customers/{body['id']}/credits", headers=staff_auth,
                       json={"amount_cents": 100_000_000}), 200)
        token = expect(seed_request("POST", f"{LB}/v1/tokens", json={"email": email, "password": password}), 201)["token"]
        customers.append({"id": body["id"], "token": token})
    return sku, customers


def place(sku: str, customer: dict[str, str]) -> dict:
    key = str(uuid.uuid4())
    started = time.time()
    record: dict = {"key": key, "customer": customer["id"], "attempts": 0, "errors": [], "started": started}
    headers = {"Authorization": f"Bearer {customer['token']}", "Idempotency-Key": key}
    body = {"items": [{"sku": sku, "quantity": 1}]}
    while True:
        record["attempts"] += 1
        try:
            r = request("POST", f"{LB}/v1/orders", json=body, headers=headers)
        except requests.RequestException as e:
            record["errors"].append(type(e).__name__)
        else:
            if r.status_code not in RETRYABLE:
                record.update(status=r.status_code, served_by=r.headers.get("X-Served-By", ""),
                              order_id=r.json().get("id") if r.status_code == 201 else None,
                              detail=None if r.status_code == 201 else r.text[:300])
                break
            record["errors"].append(str(r.status_code))
            if r.status_code == 503 and "Retry-After" not in r.headers:
                record["errors"].append("503 without Retry-After")
        if time.time() - started > ORDER_DEADLINE:
            record.update(status=None, order_id=None, detail="no answer within the order's deadline")
            break
        time.sleep(0.1)
    record["done"] = time.time()
    return record


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sku, customers = seed()
    (OUT / "ready").write_text(json.dumps({"sku": sku, "customers": [c["id"] for c in customers]}))
    lock = threading.Lock()
    log = open(OUT / "orders.jsonl", "a")
    stop_file, end = OUT / "stop", time.monotonic() + MAX_SECONDS

    def worker(customer: dict[str, str]) -> None:
        while not stop_file.exists() and time.monotonic() < end:
            record = place(sku, customer)
            with lock:
                log.write(json.dumps(record) + "\n")
                log.flush()

    threads = [threading.Thread(target=worker, args=(c,)) for c in customers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    (OUT / "done").write_text("done\n")


if __name__ == "__main__":
    main()
