"""Failover drill (issue 13): the primary dies under keyed order load, the synchronous standby takes over.

Real processes only: a primary and a standby made by `pg_basebackup` (deploy/acme_stack/standby.py, the
stack's own code, imported by path), in synchronous replication; storefront, backoffice and fulfillment
under gunicorn, each connecting with its own login through ONE multi-host URL
(`host=primary,standby … target_session_attrs=read-write`, as DATABASE_URL and DATABASE_DIRECT_URL).

Eight clients place orders, each with a unique Idempotency-Key, retrying the same key after a 503 (or a
connection error) until it is acknowledged. The primary is stopped with `pg_ctl stop -m immediate` and the
standby promoted. Then:
- every answer meanwhile was a 201/200 or a 503 with Retry-After (never a 500, never anything else), and
  every service answers again within RECOVERY_BOUND seconds of the stop;
- every acknowledged order is on the new primary, and no other order of these clients is (the retried keys
  were not applied twice);
- the fulfillment consumer resumes: every order fulfilled, exactly once (its own counter: as many fulfilled
  as orders, none skipped as already fulfilled), no dead letter;
- the registry heartbeats reach the new primary, every storefront worker LISTENs there again, and a token
  revoked and a price changed after the failover reach every storefront worker within 1 s.

The figures (orders acknowledged, present, seconds to recover) go to $ACME_TEST_ARTIFACTS/failover/drill.json;
`make drill-failover` prints them as its last line.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

pytest.register_assert_rewrite("e2e_support")

from conftest import free_port  # noqa: E402
from e2e_support import (  # noqa: E402
    PROPAGATION_BOUND,
    WORKERS,
    Launcher,
    build_stack,
    call,
    create_product,
    credit,
    in_parallel,
    log_alarms,
    miss,
    place_order,
    poll,
    sign_up,
)

_REPO = Path(os.environ.get("ACME_REPO_ROOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(_REPO / "deploy"))
from acme_stack import standby  # noqa: E402  (stdlib-only; the stack's replication plumbing)

sys.path.remove(str(_REPO / "deploy"))

CLIENTS = 8                # issue 13: 8-way keyed order load
RECOVERY_BOUND = 10.0      # issue 13: services answer again within 10 s of the primary's stop
KEY_DEADLINE = 30.0        # one order key is retried at most this long before the drill calls it lost
WARM_ACKS = 3              # orders each client has acknowledged before the primary is stopped
AFTER_RECOVERY = 1.0       # load kept running after every client got through again
SAMPLES = 16               # parallel requests on new connections: spread over every storefront worker


# -- the cluster and the services ------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair():
    """Primary + synchronous standby on free ports, thrown away at the end even when the drill fails."""
    tools_bin = os.environ.get("ACME_TEST_TOOLS_BIN", "").strip()
    if not tools_bin:
        pytest.fail("ACME_TEST_TOOLS_BIN is not set: run this drill through `make test` / `make drill-failover`",
                    pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="failover-"))
    workdir.chmod(0o755)   # the OS user postgres runs both nodes in here
    nodes = standby.ReplicatedPair(_REPO, Path(tools_bin).parent, workdir, free_port(), free_port())
    try:
        nodes.start()
        # The replication login's secrets: files of mode 600, never a command line.
        assert {oct(p.stat().st_mode & 0o777) for p in (nodes.credentials, nodes.passfile)} == {"0o600"}
        yield nodes
    finally:
        nodes.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def drill_database(pair) -> str:
    """A database on the pair; the administrator's multi-host URL to it."""
    name = f"failover_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pair.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pair.url(name)


@pytest.fixture(scope="module")
def services(drill_database, repo_root, tmp_path_factory):
    venvs = os.environ.get("ACME_TEST_SERVICE_VENVS", "").strip()
    if not venvs:
        pytest.fail("ACME_TEST_SERVICE_VENVS is not set: run this drill through `make test`", pytrace=False)
    launcher = Launcher(repo_root, Path(venvs), tmp_path_factory.mktemp("failover-logs"))
    try:
        launcher.migrate("backoffice", drill_database)
        # The session-bound connections (LISTEN, the heartbeat) on the same multi-host URL as requests.
        direct = {name: {"DATABASE_DIRECT_URL": launcher.env(name, drill_database)["DATABASE_URL"]}
                  for name in ("storefront", "backoffice", "fulfillment")}
        yield build_stack(launcher, drill_database, fulfillment=True, env=direct)
    finally:
        launcher.stop_all()
        artifacts = os.environ.get("ACME_TEST_ARTIFACTS", "").strip()
        if artifacts:   # the services' logs of the drill, for whoever looks at a run afterwards
            out = Path(artifacts) / "failover"
            out.mkdir(parents=True, exist_ok=True)
            for svc in launcher.started:
                if svc.log.exists():
                    shutil.copy(svc.log, out / svc.log.name)


# -- the load --------------------------------------------------------------------------------------

@dataclass
class Client:
    """One of the eight: places orders one key at a time, each retried until acknowledged."""
    customer: object
    sku: str
    stop: threading.Event
    fail_at: list[float]                                   # [monotonic time of the stop], once stopped
    acked: dict[str, str] = field(default_factory=dict)    # Idempotency-Key -> order id
    statuses: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    first_ack_after_fail: float | None = None

    def run(self, stack) -> None:
        while not self.stop.is_set() and not self.violations:
            self._one_order(stack, f"drill-{uuid.uuid4().hex}")

    def _one_order(self, stack, key: str) -> None:
        deadline = time.monotonic() + KEY_DEADLINE
        while time.monotonic() < deadline:
            try:
                r = place_order(stack, self.customer, [(self.sku, 1)], key=key)
            except requests.RequestException as exc:
                # The service itself must keep answering; only the database goes away.
                self.violations.append(f"no HTTP answer: {type(exc).__name__}: {exc}")
                return
            self.statuses[r.status_code] += 1
            if r.status_code in (200, 201):        # 200: a retried key whose first try had committed
                self.acked[key] = r.json()["id"]
                if self.fail_at and self.first_ack_after_fail is None:
                    self.first_ack_after_fail = time.monotonic()
                return
            if r.status_code != 503 or not r.headers.get("Retry-After"):
                self.violations.append(f"{r.status_code} (Retry-After {r.headers.get('Retry-After')!r}): "
                                       f"{r.text[:300]}")
                return
            # A real client waits Retry-After (1 s); the drill retries sooner to time the recovery finely.
            time.sleep(min(float(r.headers["Retry-After"]), 0.2))
        self.violations.append(f"key {key} not acknowledged within {KEY_DEADLINE:g}s")


@dataclass
class Probe:
    """The backoffice answering a staff read while the load runs: 200 or 503 with Retry-After only."""
    stop: threading.Event
    fail_at: list[float]
    statuses: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    first_ok_after_fail: float | None = None

    def run(self, stack, sku: str) -> None:
        while not self.stop.is_set():
            try:
                r = call("GET", f"{stack.bo}/v1/products/{sku}", headers=stack.staff.auth, timeout=15)
            except requests.RequestException as exc:
                self.violations.append(f"backoffice: no HTTP answer: {type(exc).__name__}: {exc}")
                return
            self.statuses[r.status_code] += 1
            if r.status_code == 200:
                if self.fail_at and self.first_ok_after_fail is None:
                    self.first_ok_after_fail = time.monotonic()
            elif r.status_code != 503 or not r.headers.get("Retry-After"):
                self.violations.append(f"backoffice: {r.status_code}: {r.text[:300]}")
                return
            time.sleep(0.1)


def wait_for(check, *, within: float, what: str):
    deadline = time.monotonic() + within
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within:g}s", pytrace=False)
        time.sleep(0.05)
    return result


# -- what the new primary holds ----------------------------------------------------------------------

def query(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def metric(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{labels}}} not in /metrics")


def listener_count(url: str, service: str) -> int:
    return query(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND application_name LIKE %s AND application_name LIKE '%%/listener'", (f"{service}/%",))[0][0]


def storefront_views(stack, sku: str) -> list[tuple[int, int | None]]:
    def view(_):
        r = call("GET", f"{stack.sf}/v1/products/{sku}")
        return r.status_code, (r.json().get("price_cents") if r.status_code == 200 else None)
    return in_parallel(view, range(SAMPLES), workers=SAMPLES)


def wallet_statuses(stack, auth) -> list[int]:
    return in_parallel(lambda _: call("GET", f"{stack.sf}/v1/wallet", headers=auth).status_code,
                       range(SAMPLES), workers=SAMPLES)


def refused_everywhere(statuses: list[int]):
    return True if statuses == [401] * SAMPLES else miss(statuses)


def priced_everywhere(views: list[tuple[int, int | None]], price: int):
    return True if all(view == (200, price) for view in views) else miss(views)


# -- the drill -----------------------------------------------------------------------------------------

def test_the_standby_takes_over_under_order_load_and_loses_no_acknowledged_order(pair, drill_database, services):
    stack = services
    product = create_product(stack, price_cents=100, stock=100_000)
    sku = product["sku"]
    customers = []
    for _ in range(CLIENTS):
        customer = sign_up(stack)
        credit(stack, customer.id, 10_000_000)
        customers.append(customer)

    stop, fail_at = threading.Event(), []
    clients = [Client(c, sku, stop, fail_at) for c in customers]
    probe = Probe(stop, fail_at)
    threads = [threading.Thread(target=c.run, args=(stack,), daemon=True) for c in clients]
    threads.append(threading.Thread(target=probe.run, args=(stack, sku), daemon=True))
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(len(c.acked) >= WARM_ACKS for c in clients) or any(c.violations for c in clients),
                 within=120, what=f"{WARM_ACKS} orders per client before the failover")
        assert pair.sync_state() == "sync"
        acked_before = sum(len(c.acked) for c in clients)

        # The primary dies; the standby is promoted (what an operator, or a cluster manager, does).
        stopped_at = time.monotonic()
        fail_at.append(stopped_at)
        pair.fail_primary()
        pair.promote()
        promoted_after = time.monotonic() - stopped_at

        wait_for(lambda: (all(c.first_ack_after_fail for c in clients) and probe.first_ok_after_fail)
                 or any(c.violations for c in clients) or probe.violations,
                 within=KEY_DEADLINE, what="every client and the backoffice answering again after the failover")
        time.sleep(AFTER_RECOVERY)
    finally:
        stop.set()
        for t in threads:
            t.join(KEY_DEADLINE + 15)

    violations = [v for c in clients for v in c.violations] + probe.violations
    assert not violations, "answers other than 201/200 or 503 with Retry-After:\n" + "\n".join(violations[:10])
    statuses = sum((c.statuses for c in clients), Counter())
    recovered = max([c.first_ack_after_fail for c in clients] + [probe.first_ok_after_fail]) - stopped_at
    assert recovered <= RECOVERY_BOUND, f"services answered again only {recovered:.1f}s after the primary's stop"

    # The new primary is the old standby, and it has every acknowledged order, and only those.
    (port, in_recovery, waits_for), = query(drill_database, "SELECT inet_server_port(), pg_is_in_recovery(), "
                                                            "current_setting('synchronous_standby_names')")
    # The promoted node did not inherit the primary's synchronous_standby_names (its commits would hang).
    assert (port, in_recovery, waits_for) == (pair.standby.port, False, "")
    acked = {order_id for c in clients for order_id in c.acked.values()}
    assert len(acked) == sum(len(c.acked) for c in clients)    # one order per key
    present = {str(row[0]) for row in query(drill_database, "SELECT id FROM orders.orders WHERE customer_id = ANY(%s)",
                                            ([c.id for c in customers],))}
    assert acked - present == set(), f"{len(acked - present)} acknowledged orders lost in the failover"
    assert present - acked == set(), f"{len(present - acked)} orders nobody was told about (a key applied twice?)"

    # The consumer resumed from its committed offset: every order fulfilled, none twice, nothing parked.
    poll(lambda: query(drill_database, "SELECT count(*) FROM orders.orders WHERE id = ANY(%s::uuid[]) "
                                       "AND status = 'fulfilled'", (list(acked),))[0][0] == len(acked),
         within=30, what="every acknowledged order fulfilled on the new primary")
    metrics = requests.get(f"{stack.fulfillment.url}/metrics", timeout=10).text
    counted = {o: metric(metrics, "fulfillment_orders_total", f'outcome="{o}"') for o in ("fulfilled", "skipped",
                                                                                       "missing")}
    assert counted == {"fulfilled": len(acked), "skipped": 0, "missing": 0}, counted
    assert query(drill_database, "SELECT count(*) FROM acme_platform.dead_letters")[0][0] == 0

    # The registry heartbeats land on the new primary.
    fresh = dict(query(drill_database, "SELECT service, count(*) FROM acme_platform.instances "
                                       "WHERE heartbeat_at > now() - interval '5 seconds' GROUP BY service"))
    assert fresh == WORKERS, fresh

    # Every storefront worker LISTENs on the new primary again; what it is told reaches every worker.
    wait_for(lambda: listener_count(drill_database, "storefront") == WORKERS["storefront"], within=10,
             what="every storefront worker listening on the new primary")
    customer = sign_up(stack)
    assert wallet_statuses(stack, customer.auth) == [200] * SAMPLES      # every worker verified and cached it
    r = call("DELETE", f"{stack.sf}/v1/tokens/current", headers=customer.auth)
    assert r.status_code == 204, r.text
    poll(lambda: refused_everywhere(wallet_statuses(stack, customer.auth)), within=PROPAGATION_BOUND,
         what="a token revoked after the failover refused by every storefront worker")

    assert {price for _, price in storefront_views(stack, sku)} == {100}   # cached by every worker
    r = call("PATCH", f"{stack.bo}/v1/products/{sku}", json={"price_cents": 150}, headers=stack.staff.auth)
    assert r.status_code == 200, r.text
    poll(lambda: priced_everywhere(storefront_views(stack, sku), 150), within=PROPAGATION_BOUND,
         what="a price changed after the failover on every storefront worker")

    # The outage was logged as what it is (warnings: lost connections, retries), never as an error or a
    # traceback: a 500 nobody looked at, a crashed consumer loop or listener would show here.
    alarms = [f"{svc.name}: {alarm}" for svc in (stack.storefront, stack.backoffice, stack.fulfillment)
              for alarm in log_alarms(svc.log_text())]
    assert not alarms, "services logged errors during the failover:\n" + "\n".join(alarms[:10])

    figures = {"orders_acknowledged": len(acked), "orders_present": len(acked & present),
               "seconds_to_recover": round(recovered, 2), "seconds_to_promote": round(promoted_after, 2),
               "acknowledged_before_failover": acked_before, "answers": dict(sorted(statuses.items())),
               "backoffice_answers": dict(sorted(probe.statuses.items()))}
    artifacts = os.environ.get("ACME_TEST_ARTIFACTS", "").strip()
    if artifacts:
        out = Path(artifacts) / "failover"
        out.mkdir(parents=True, exist_ok=True)
        (out / "drill.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"failover drill: {figures}")
