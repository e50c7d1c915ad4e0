"""The multi-host drill (issue 13): five hosts on one machine, an application host dies under load.

Hosts are Linux network namespaces on one bridge (deploy/acme_stack/netns.py), 10.61.0.0/24:
  db      PostgreSQL (listening on its own address, scram for the subnet) + PgBouncer (transaction mode)
  app1    storefront + fulfillment (+ the backoffice while the drill seeds its data)
  app2    storefront
  lb      HAProxy in front of both storefronts, health checks on /readyz (deploy/acme_stack/haproxy.py)
  client  8 workers placing keyed orders through the balancer (tests/multihost_client.py)
Everything is the stack's own code: postgres.Cluster, roles.apply, pooler.Bouncer, services.service_env with the
service venvs `make test` installed from the index.

Then: every process of app2 is killed (SIGKILL, as if the host died) →
  - the balancer takes app2 out within its detection bound (inter × (fall + 1) + check timeout) plus slack,
  - every order that got 201 is in the database exactly once and gets fulfilled (fulfillment runs on app1),
  - no order ends in a 5xx, and a 503 always carries Retry-After,
  - `acmectl status` shows app2's instances **stale**, with app2's address as their host, within their window.
One summary line at the end. Needs root for `ip netns`: without it the drill FAILS (it never skips).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

_REPO = Path(os.environ.get("ACME_REPO_ROOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(_REPO / "deploy"))
from acme_stack import haproxy, netns, pooler, postgres, projects, proc, roles, services  # noqa: E402
from acme_stack.config import PG_DATABASE, Layout  # noqa: E402

sys.path.remove(str(_REPO / "deploy"))

HOSTS = ["db", "app1", "app2", "lb", "client"]   # torn down in reverse: clients before their servers
# Each host has its own ports: the usual ones, whatever runs on the machine itself.
PG_PORT, BOUNCER_PORT, LB_PORT = 5432, 6432, 8080
STOREFRONT, BACKOFFICE, FULFILLMENT = 8001, 8002, 8003
HEARTBEAT_INTERVAL, STALE_AFTER = 1.0, 3.0        # the drill's short registry window (the platform's settings)
MOVE_SLACK = 2.0          # seconds on top of the balancer's detection bound: a loaded 2-core machine
ORDERS_BEFORE_KILL, ORDERS_AFTER_MOVE = 24, 24
FULFIL_WITHIN = 30.0
CLIENT = Path(__file__).resolve().parent / "multihost_client.py"

_QUERY = r"""
import json, os, sys, psycopg
with psycopg.connect(os.environ["DRILL_DB"], connect_timeout=10) as conn:
    rows = conn.execute(os.environ["DRILL_SQL"], json.loads(os.environ["DRILL_PARAMS"])).fetchall()
print(json.dumps([[str(v) for v in row] for row in rows]))
"""


def _need(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: run this drill through `make test`", pytrace=False)
    return value


def _bounded(check, within: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + within
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within:.0f}s: {what}", pytrace=False)
        time.sleep(interval)


class Drill:
    """The hosts and what runs on them; the test reads like the drill's steps."""

    def __init__(self, net: netns.Network, work: Path, repo: Path):
        self.net, self.work, self.repo = net, work, repo
        self.venvs = Path(_need("ACME_TEST_SERVICE_VENVS"))
        self.layout = Layout(root=repo, run=work, tools=Path(_need("ACME_TEST_TOOLS_BIN")).parent)
        self.svcs = {p.dirname: p for p in projects.services(repo)}
        self.logs = work / "logs"
        self.logs.mkdir()
        self.env_of: dict[str, dict[str, str]] = {}
        self.children: list[tuple[str, str, int, subprocess.Popen]] = []   # (host, service, port, process)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted(self.logs.glob("*.log")))

    # -- the database host ------------------------------------------------------------------------
    def database(self) -> None:
        db = self.net["db"]
        cluster = postgres.Cluster(self.layout, PG_PORT, throwaway=True, listen=db.address, clients=self.net.subnet,
                                   wrap=db.wrap)
        cluster.ensure()
        admin = cluster.info().url(PG_DATABASE)
        # Each service's venv declares its own login; the administrator's URL only in acmectl's environment.
        roles.apply(self.layout, [(n, self.venvs / n) for n in ("backoffice", "storefront", "fulfillment")], admin,
                    wrap=db.wrap)
        services.migrate(self.venvs / "backoffice", roles.login_url(self.layout, roles.MIGRATOR), self.log("migrate"),
                         "backoffice", wrap=db.wrap)
        bouncer = pooler.Bouncer(pooler.Config(listen_port=BOUNCER_PORT, server_host=db.address, server_port=PG_PORT,
                                               workdir=self.work / "pgbouncer", listen_host=db.address))
        logins = {n: roles.login_url(self.layout, n) for n in self.svcs}
        bouncer.config.role_limits = {pooler.login_of(u).user: bouncer.config.default_pool_size for u in logins.values()}
        bouncer.add_logins([pooler.login_of(u) for u in logins.values()])
        bouncer.write()
        child = self.net.spawn("db", bouncer.command(), log=self.log("pgbouncer"), env=proc.isolated_env())
        self.net.wait_listening("db", BOUNCER_PORT, 20, child)
        self.pool_env = {n: {"DATABASE_DIRECT_URL": u, "ACME_DB_POOLER_CONNECTIONS": str(bouncer.config.default_pool_size)}
                         for n, u in logins.items()}
        self.pooled = {n: pooler.pooled_url(u, db.address, BOUNCER_PORT) for n, u in logins.items()}
        self.direct = logins

    # -- application hosts --------------------------------------------------------------------------
    def start(self, host: str, name: str, port: int) -> None:
        svc, venv, address = self.svcs[name], self.venvs / name, self.net[host].address
        spec = projects.service_spec(svc)
        env = services.service_env(venv, svc, self.pooled[name], port, pooler_env=self.pool_env[name], extra_env={
            "ACME_BIND_HOST": address, "ACME_BIND": f"{address}:{port}",
            "ACME_WEB_WORKERS": "1",   # lean: 8 greenlet-served clients need no second process per host
            "ACME_HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL), "ACME_INSTANCE_STALE_AFTER": str(STALE_AFTER),
            "ACME_TRUSTED_PROXIES": self.net["lb"].address,
        })
        self.env_of[name] = env
        child = self.net.spawn(host, services.command(venv, svc), log=self.log(f"{host}-{name}"), env=env,
                               cwd=(svc.path / spec["cwd"]).resolve())
        self.children.append((host, name, port, child))

    def wait_listening(self, timeout: float = 90) -> None:
        for host, name, port, child in self.children:
            try:
                self.net.wait_listening(host, port, timeout, child)
            except netns.NetnsError as e:
                pytest.fail(f"{name} on {host}: {e}\n{self.tails()}", pytrace=False)

    # -- the balancer -------------------------------------------------------------------------------
    def balancer(self) -> haproxy.Config:
        cfg = haproxy.Config(listen=f"{self.net['lb'].address}:{LB_PORT}", workdir=self.work / "haproxy",
                             servers=[haproxy.Server(h, self.net[h].address, STOREFRONT) for h in ("app1", "app2")])
        cfg.write()
        child = self.net.spawn("lb", cfg.command(), log=self.log("haproxy"), env=proc.isolated_env())
        self.net.wait_listening("lb", LB_PORT, 20, child)
        return cfg

    # -- commands on the client host ----------------------------------------------------------------
    def acmectl_status(self) -> dict:
        env = {**self.env_of["backoffice"], "DATABASE_URL": self.direct["backoffice"]}
        env.pop("DATABASE_DIRECT_URL", None)
        res = self.net.run("client", [self.venvs / "backoffice" / "bin" / "acmectl", "status", "--json"], env=env,
                           timeout=60)
        assert res.returncode == 0, f"acmectl status failed: {res.stderr[-2000:]}"
        return json.loads(res.stdout)

    def query(self, sql: str, params: list) -> list[list[str]]:
        env = {**proc.isolated_env(), "DRILL_DB": self.direct["backoffice"], "DRILL_SQL": sql,
               "DRILL_PARAMS": json.dumps(params)}
        res = self.net.run("client", [sys.executable, "-c", _QUERY], env=env, timeout=60)
        assert res.returncode == 0, f"query failed: {res.stderr[-2000:]}"
        return json.loads(res.stdout)


def _orders(out: Path) -> list[dict]:
    path = out / "orders.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_an_application_host_dies_under_load(repo_root, capsys):
    why = netns.unavailable()
    if why:
        pytest.fail(f"the multi-host drill needs network namespaces (`ip netns`): {why}", pytrace=False)
    haproxy.binary()    # the Debian packages, installed by the project when missing
    pooler.binary()
    work = Path(tempfile.mkdtemp(prefix="acmenet-drill-"))
    os.chmod(work, 0o755)   # PostgreSQL and PgBouncer run as `postgres` and must reach their folders
    try:
        with netns.network(HOSTS) as net:
            _drill(Drill(net, work, repo_root), capsys)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _drill(d: Drill, capsys) -> None:
    net = d.net
    t0 = time.monotonic()
    d.database()
    email, password = f"drill-ops-{uuid.uuid4().hex[:8]}@example.com", uuid.uuid4().hex
    d.start("app1", "storefront", STOREFRONT)
    d.start("app1", "fulfillment", FULFILLMENT)
    d.start("app1", "backoffice", BACKOFFICE)   # only to seed the drill's data; stopped before the load
    d.start("app2", "storefront", STOREFRONT)
    lb = d.balancer()
    d.wait_listening()
    made = net.run("client", [d.venvs / "backoffice" / "bin" / "acmectl", "create-staff", "--email", email,
                              "--name", "Drill Ops"], env=d.env_of["backoffice"], stdin=password + "\n", timeout=120)
    assert made.returncode == 0, f"acmectl create-staff failed: {made.stderr[-2000:]}"
    _bounded(lambda: set(haproxy.server_states(lb.socket).values()) == {"UP"}, 60,
             "the balancer sees both storefronts ready")

    out = d.work / "client"
    client_env = {**proc.isolated_env(), "DRILL_LB": f"http://{lb.listen}", "DRILL_OUT": str(out),
                  "DRILL_BACKOFFICE": f"http://{net['app1'].address}:{BACKOFFICE}", "DRILL_STAFF_EMAIL": email,
                  "DRILL_STAFF_PASSWORD": password, "DRILL_WORKERS": "8", "DRILL_MAX_SECONDS": "150"}
    client = net.spawn("client", [sys.executable, CLIENT], log=d.log("client"), env=client_env)
    _bounded(lambda: (out / "ready").exists() or client.poll() is not None, 120, "the client seeded its data")
    assert (out / "ready").exists(), f"the client failed to seed:\n{d.tails()}"
    backoffice = next(c for h, n, _, c in d.children if n == "backoffice")
    os.kill(backoffice.pid, signal.SIGTERM)   # seeding done: one process less on two cores

    # Before the kill: the registry knows each storefront by its host's address.
    status = d.acmectl_status()
    hosts = {i["host"] for i in status["instances"] if i["service"] == "storefront"}
    assert hosts == {net["app1"].address, net["app2"].address}, f"storefront instances on {hosts}"
    assert status["stale_instances"] == [], f"stale before anything died: {status['stale_instances']}"
    _bounded(lambda: sum(o["status"] == 201 for o in _orders(out)) >= ORDERS_BEFORE_KILL, 60,
             f"{ORDERS_BEFORE_KILL} orders acknowledged before the kill")
    served = {o.get("served_by") for o in _orders(out)}
    assert served >= {"app1", "app2"}, f"the balancer used {served} before the kill"

    # app2 dies: every process in its namespace, SIGKILL.
    killed_at, killed_wall = time.monotonic(), time.time()
    killed = net.kill_host("app2")
    assert killed, "app2 ran no process"
    down = _bounded(lambda: haproxy.server_states(lb.socket).get("app2", "").startswith("DOWN") and time.monotonic(),
                    lb.detection_bound() + MOVE_SLACK + 5, "the balancer takes app2 out", interval=0.05)
    moved = down - killed_at
    assert moved <= lb.detection_bound() + MOVE_SLACK, (
        f"the balancer moved after {moved:.2f}s; bound {lb.detection_bound():.2f}s + {MOVE_SLACK}s slack")
    assert haproxy.server_states(lb.socket).get("app1") == "UP"
    acked_at_move = sum(o["status"] == 201 for o in _orders(out))
    _bounded(lambda: sum(o["status"] == 201 for o in _orders(out)) >= acked_at_move + ORDERS_AFTER_MOVE, 60,
             f"{ORDERS_AFTER_MOVE} more orders acknowledged after the move")

    # The dead instances go stale in the registry, under app2's address: the first `acmectl status` started once
    # their window (and one heartbeat interval: the last beat came at most that long before the kill) has
    # passed shows them stale, and app1's still live.
    time.sleep(max(0.0, killed_at + STALE_AFTER + HEARTBEAT_INTERVAL - time.monotonic()))
    stale_after = time.monotonic() - killed_at
    report = d.acmectl_status()
    on = {h: {(i["service"], i["state"]) for i in report["stale_instances"] if i["host"] == net[h].address}
          | {(i["service"], "live") for i in report["instances"] if i["host"] == net[h].address} for h in ("app1", "app2")}
    assert on["app2"] == {("storefront", "stale")}, f"app2 after its window: {on['app2']}"
    assert on["app1"] == {("storefront", "live"), ("fulfillment", "live")}, f"app1: {on['app1']}"

    (out / "stop").write_text("")
    _bounded(lambda: client.poll() is not None, 60, "the client stops")
    assert (out / "done").exists(), f"the client did not finish cleanly:\n{d.tails()}"

    orders = _orders(out)
    failed = [o for o in orders if o["status"] != 201]
    assert not failed, f"{len(failed)} orders did not end in 201: {failed[:3]}"
    assert not [o for o in orders if "503 without Retry-After" in o["errors"]], "a 503 without Retry-After"
    acked = {o["order_id"] for o in orders}
    retried = [o for o in orders if o["attempts"] > 1]
    after_kill = [o for o in orders if o["started"] >= killed_wall]
    assert after_kill and all(o["served_by"] == "app1" for o in after_kill if o["started"] > killed_wall + moved + 1)

    ready = json.loads((out / "ready").read_text())
    rows = d.query("SELECT id, status FROM orders.orders WHERE customer_id = ANY(%s)", [ready["customers"]])
    present = {r[0] for r in rows}
    # Exactly the acknowledged orders: none lost, and no retry placed one twice.
    assert present == acked, f"missing {sorted(acked - present)[:3]}, unacknowledged {sorted(present - acked)[:3]}"

    def all_fulfilled():
        rows = d.query("SELECT count(*) FILTER (WHERE status = 'fulfilled'), count(*) FROM orders.orders "
                       "WHERE id = ANY(%s::uuid[])", [sorted(acked)])
        return int(rows[0][0]) if rows[0][0] == rows[0][1] else None

    fulfilled = _bounded(all_fulfilled, FULFIL_WITHIN, "every acknowledged order fulfilled", interval=0.5)
    causes = dict(Counter(e for o in orders for e in o["errors"]))   # what made the client retry
    with capsys.disabled():
        print(f"\nmultihost drill: {len(acked)} orders acknowledged, {len(present)} present, {fulfilled} fulfilled; "
              f"balancer moved {moved:.2f}s after the kill (bound {lb.detection_bound():.2f}s + {MOVE_SLACK:.0f}s); "
              f"app2 shown stale by an acmectl status started {stale_after:.1f}s after it (window {STALE_AFTER:.0f}s "
              f"+ {HEARTBEAT_INTERVAL:.0f}s beat); "
              f"{len(retried)} orders retried with their key (after {causes}); "
              f"{len(killed)} processes killed; "
              f"{time.monotonic() - t0:.0f}s in all", flush=True)
