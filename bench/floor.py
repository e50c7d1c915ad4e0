"""F mode, the floor: the SQL statements L sends, issued by plain psycopg the way L issues them: a write
in one transaction, a read on its own (acme-platform >= 0.4.1 sends a unit of work's reads without
BEGIN/COMMIT until its first write, so F does too: a floor that paid round trips L no longer pays would
flatter L). No HTTP, no Flask, no SQLAlchemy on the measured path.

Run with the storefront's venv python (.run/venvs/storefront, what L runs; harness/load.py does): the
statements are imported from the domain packages' repository modules installed there, so F sends the
very texts of the library versions L is measured with, never a copy (every domain writes its SQL as
psycopg `%(name)s` texts, which plain psycopg takes verbatim). F passes the same parameters, in the same
order, on connections that psycopg prepares statements on after 5 uses exactly as
under SQLAlchemy. Importing the packages loads SQLAlchemy once at start-up; the loop never calls it. What F
leaves out is exactly what stands between the domain code and the database: HTTP parsing and
routing, request validation, SQLAlchemy's execution and result processing, logging and metrics.

Authentication: L caches verified tokens in-process (acme_identity.Authenticator), so its hot path
sends no identity SQL after the first request per token and worker. F does the same: the token query
runs once per token and connection, then a dict lookup.

Closed loop: `--concurrency` clients (threads spread over up to two processes, one connection each)
each issue the next operation as soon as the previous one returns. Prints `MEASURE_START` when the
measured window opens and `BENCHJSON {...}` at the end.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

import psycopg
from acme_billing.repository import BALANCE as GET_BALANCE
from acme_billing.repository import CHARGE
from acme_catalog.repository import RESERVE_MANY
from acme_catalog.repository import SELECT_ONE as GET_PRODUCT
from acme_identity.repository import TOKEN_BY_HASH
from acme_orders.repository import CLAIM_KEY, INSERT_ORDER
from acme_orders.repository import GET_OWNED as GET_ORDER



def events_statement(pending: list[tuple[str, str, str]]) -> tuple[str, dict]:
    """The one statement acme-platform sends just before COMMIT for a transaction's events (every
    domain's outbox rows as data-modifying CTEs, then the wake-up), built the same way
    (acme_platform/events/outbox.py `_write`)."""
    schemas = list(dict.fromkeys(topic.split(".", 1)[0] for topic, _, _ in pending))
    params: dict = {"channel": "acme_events", "message": compact({"events": [[t, k] for t, k, _ in pending]})}
    inserts = []
    for i, schema in enumerate(schemas):
        rows = [e for e in pending if e[0].split(".", 1)[0] == schema]
        params[f"topics{i}"] = [t for t, _, _ in rows]
        params[f"keys{i}"] = [k for _, k, _ in rows]
        params[f"payloads{i}"] = [b for _, _, b in rows]
        inserts.append(
            f'{schema}_events AS (INSERT INTO "{schema}".outbox (txid, topic, key, payload) '
            "SELECT pg_current_xact_id()::text::bigint, e.topic, e.key, e.payload::jsonb "
            f"FROM unnest(%(topics{i})s::text[], %(keys{i})s::text[], %(payloads{i})s::text[]) "
            "WITH ORDINALITY AS e(topic, key, payload, n) ORDER BY e.n)")
    return "WITH " + ", ".join(inserts) + " SELECT pg_notify(%(channel)s, %(message)s)", params


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Client:
    """One closed-loop client: one connection, the operations of every workload."""

    def __init__(self, dsn: str, fixtures: dict, rnd: random.Random, nonce: str):
        # autocommit: reads go alone, as L's do; place_order opens its transaction explicitly.
        self.conn = psycopg.connect(dsn, application_name="bench-floor", autocommit=True)
        self.fx = fixtures
        self.rnd = rnd
        self.nonce = nonce
        self.counter = 0
        self.principals: dict[bytes, tuple[str, bool]] = {}

    def principal(self, token: str) -> tuple[str, bool]:
        digest = hashlib.sha256(token.encode("ascii")).digest()
        found = self.principals.get(digest)
        if found is None:
            row = self.conn.execute(TOKEN_BY_HASH, {"token_hash": digest}).fetchone()
            found = self.principals[digest] = (str(row[1]), "staff" in row[2])
        return found

    # -- workloads -----------------------------------------------------------------------------
    def place_order(self) -> None:
        fx, rnd = self.fx, self.rnd
        customer, _ = self.principal(rnd.choice(fx["tokens"]))
        a, b = rnd.sample(fx["skus"], 2)
        lines = sorted([(a, 1), (b, 1)])
        self.counter += 1
        key = f"floor-{self.nonce}-{uuid.uuid4().hex}"
        order_id = str(uuid.uuid4())
        request_hash = hashlib.sha256(compact(sorted([s, q] for s, q in lines)).encode()).hexdigest()
        pending: list[tuple[str, str, str]] = []
        conn = self.conn
        with conn.transaction():
            claimed = conn.execute(CLAIM_KEY, {"customer_id": customer, "key": key, "request_hash": request_hash,
                                                "order_id": order_id}).fetchone()
            assert claimed is not None
            skus, qtys = [s for s, _ in lines], [q for _, q in lines]
            rows = conn.execute(RESERVE_MANY, {"skus": skus, "qtys": qtys, "n": len(lines)}).fetchall()
            products = {r[0]: r for r in rows if r[0] is not None}
            if len(products) != len(lines):
                raise RuntimeError("reservation refused")
            pending += [("catalog.product_changed", s, compact({"sku": s, "version": products[s][8],
                                                                 "changes": ["stock"]})) for s in skus]
            prices = [int(products[s][3]) for s in skus]
            total = sum(q * p for q, p in zip(qtys, prices, strict=True))
            posting_id = str(uuid.uuid4())
            charged = conn.execute(CHARGE, {
                "posting_id": posting_id, "kind": "charge", "owner_id": customer, "amount": total, "delta": -total,
                "reference": f"order:{order_id}", "granted_by": None, "created_at": datetime.now(timezone.utc),
                "system_owner_prefix": "system:revenue:", "currency": "USD"}).fetchone()
            if charged is None:
                raise RuntimeError("charge refused")
            pending.append(("billing.balance_changed", customer,
                            compact({"owner_id": customer, "posting_id": posting_id})))
            conn.execute(INSERT_ORDER, {"order_id": order_id, "customer_id": customer, "status": "placed",
                                        "total_cents": total, "currency": "USD", "skus": skus, "quantities": qtys,
                                        "prices": prices}).fetchone()
            pending.append(("orders.order_placed", order_id,
                            compact({"order_id": order_id, "customer_id": customer, "status": "placed"})))
            conn.execute(*events_statement(pending)).fetchone()

    def get_product(self) -> None:
        row = self.conn.execute(GET_PRODUCT, {"sku": self.rnd.choice(self.fx["skus"])}).fetchone()
        if row is None:
            raise RuntimeError("product not found")

    def get_order(self) -> None:
        token, order_id = self.rnd.choice(self.fx["orders"])
        customer, _ = self.principal(token)
        row = self.conn.execute(GET_ORDER, {"order_id": order_id, "owner": customer}).fetchone()
        if row is None:
            raise RuntimeError("order not found")

    def hops(self, n: int) -> None:
        # The L hops app's reads: identity (token, uncached), catalog, billing, orders; the first n.
        token, order_id = self.rnd.choice(self.fx["orders"])
        conn = self.conn
        row = conn.execute(TOKEN_BY_HASH, {"token_hash": hashlib.sha256(token.encode("ascii")).digest()}).fetchone()
        customer = str(row[1])
        if n >= 2:
            conn.execute(GET_PRODUCT, {"sku": self.rnd.choice(self.fx["skus"])}).fetchone()
        if n >= 3:
            conn.execute(GET_BALANCE, {"owner_id": customer}).fetchone()
        if n >= 4:
            conn.execute(GET_ORDER, {"order_id": order_id, "owner": customer}).fetchone()


def load_fixtures(path: str) -> dict:
    def lines(name):
        with open(os.path.join(path, name)) as fh:
            return [line.strip() for line in fh if line.strip()]
    return {"tokens": lines("tokens.txt"), "skus": lines("skus.txt"),
            "orders": [tuple(line.split(" ", 1)) for line in lines("orders.txt")]}


def worker(args, threads: int, seed: int, ready, go, start_at, results) -> None:
    fixtures = load_fixtures(args.fixtures)
    clients = [Client(args.dsn, fixtures, random.Random(seed * 1000 + i), args.nonce) for i in range(threads)]
    ready.put(len(clients))
    go.wait()
    warm_end = start_at.value + args.warmup
    end = warm_end + args.duration
    latencies: list[list[float]] = [[] for _ in clients]
    errors = [0] * len(clients)

    def loop(i: int) -> None:
        c = clients[i]
        op = (lambda: c.hops(args.hops)) if args.workload == "hops" else getattr(c, args.workload)
        out = latencies[i]
        while True:
            t0 = time.time()
            if t0 >= end:
                break
            try:
                op()
            except Exception:  # noqa: BLE001 - any failed operation counts as an error of the load, whatever it raised
                errors[i] += 1
                if not c.conn.closed:
                    c.conn.rollback()
            t1 = time.time()
            if warm_end <= t1 <= end:
                out.append(t1 - t0)

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(len(clients))]
    for t in ts:
        t.start()
    time.sleep(max(0.0, warm_end - time.time()))
    cpu0 = time.process_time()
    for t in ts:
        t.join()
    cpu = time.process_time() - cpu0
    for c in clients:
        c.conn.close()
    results.put({"latencies": [x for lst in latencies for x in lst], "errors": sum(errors), "cpu_s": cpu})


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--workload", required=True, choices=["place_order", "get_product", "get_order", "hops"])
    ap.add_argument("--hops", type=int, default=1)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--nonce", default=str(int(time.time())))
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()

    ctx = mp.get_context("fork")
    procs_n = max(1, min(args.processes, args.concurrency))
    split = [args.concurrency // procs_n + (1 if i < args.concurrency % procs_n else 0) for i in range(procs_n)]
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=worker, args=(args, n, i + 1, ready, go, start_at, results)) for i, n in enumerate(split)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    start_at.value = time.time()
    go.set()
    time.sleep(max(0.0, start_at.value + args.warmup - time.time()))
    print("MEASURE_START", flush=True)
    collected = [results.get(timeout=args.warmup + args.duration + 120) for _ in procs]
    for p in procs:
        p.join()
    values = sorted(x for r in collected for x in r["latencies"])
    us = lambda s: round(s * 1e6)  # noqa: E731
    out = {
        "requests": len(values), "duration_us": us(args.duration), "bytes": 0,
        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0,
                   "exceptions": sum(r["errors"] for r in collected)},
        "latency_us": {"min": us(values[0]) if values else 0, "mean": us(sum(values) / len(values)) if values else 0,
                       "max": us(values[-1]) if values else 0,
                       "p50": us(percentile(values, 50)), "p90": us(percentile(values, 90)),
                       "p99": us(percentile(values, 99)), "p999": us(percentile(values, 99.9))},
        "processes": procs_n,
        "client_cpu_s": round(sum(r["cpu_s"] for r in collected), 3),
    }
    print("BENCHJSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
