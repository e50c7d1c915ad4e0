"""The bench's floor (bench/floor.py) sends the domains' own statements: it imports them from the
repositories of the wheels installed in the storefront's venv, and runs with that venv's python exactly
as `make bench` does. Here it runs for a moment against a real stack (WITHOUT a fulfillment worker, so
its orders stay as it wrote them), as the storefront's own login, and must finish every operation
without an error and really write what it claims; a floor whose parameters drift from the repositories'
texts (planted below, in a copy) fails every operation.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import call, create_product, funded_customer, place_order  # noqa: E402

pytest_plugins = ["e2e_support"]


@pytest.fixture(scope="module")
def floor_fixtures(quiet_stack, tmp_path_factory) -> tuple[Path, dict]:
    """The files the floor reads (as bench/seed.py writes them): tokens, skus and 'token order_id' lines."""
    customer = funded_customer(quiet_stack, 10_000_000)
    skus = [create_product(quiet_stack, price_cents=100, stock=100_000)["sku"] for _ in range(3)]
    r = place_order(quiet_stack, customer, [(skus[0], 1)])
    assert r.status_code == 201, r.text
    folder = tmp_path_factory.mktemp("floor-fixtures")
    (folder / "tokens.txt").write_text(customer.token + "\n")
    (folder / "skus.txt").write_text("\n".join(skus) + "\n")
    (folder / "orders.txt").write_text(f"{customer.token} {r.json()['id']}\n")
    return folder, {"customer": customer, "skus": skus}


def run_floor(launcher, stack, floor: Path, fixtures: Path, workload: str, *extra: str) -> dict:
    # The floor is plain psycopg straight on PostgreSQL (it prepares its statements): behind PgBouncer
    # (tests:e2e-pgbouncer) it takes the login's direct URL, as bench/run.py's F does.
    urls = launcher.env("storefront", stack.database_url)
    dsn = urls.get("DATABASE_DIRECT_URL", urls["DATABASE_URL"]).replace("postgresql+psycopg://", "postgresql://")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV", "DATABASE_URL")}
    res = subprocess.run(
        [str(launcher.venv("storefront") / "bin" / "python"), str(floor), "--dsn", dsn, "--workload", workload,
         "--concurrency", "1", "--processes", "1", "--warmup", "0.2", "--duration", "0.8",
         "--fixtures", str(fixtures), *extra],
        env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"floor.py {workload} failed:\n{res.stdout}\n{res.stderr}"
    lines = [line for line in res.stdout.splitlines() if line.startswith("BENCHJSON ")]
    assert lines, res.stdout
    return json.loads(lines[-1].split(" ", 1)[1])


@pytest.mark.parametrize("workload, extra", [
    ("place_order", ()), ("get_order", ()), ("get_product", ()), ("hops", ("--hops", "4")),
])
def test_the_floor_runs_the_repositories_statements_without_an_error(
        launcher, quiet_stack, repo_root, floor_fixtures, workload, extra):
    fixtures, _ = floor_fixtures
    out = run_floor(launcher, quiet_stack, repo_root / "bench" / "floor.py", fixtures, workload, *extra)
    assert out["requests"] > 0
    assert out["errors"]["exceptions"] == 0, out


def test_orders_the_floor_places_are_real_orders(launcher, quiet_stack, repo_root, floor_fixtures):
    fixtures, world = floor_fixtures
    customer = world["customer"]
    before = call("GET", f"{quiet_stack.sf}/v1/orders?limit=100", headers=customer.auth).json()["items"]
    out = run_floor(launcher, quiet_stack, repo_root / "bench" / "floor.py", fixtures, "place_order")
    after = call("GET", f"{quiet_stack.sf}/v1/orders?limit=100", headers=customer.auth).json()["items"]
    placed = [o for o in after if o["id"] not in {b["id"] for b in before}]
    # Every order the floor placed (its warm-up's too, up to a page) reads back through the storefront. The
    # page is newest first, so they head it however many orders the customer placed before (the parametrized
    # place_order run above may already have filled a page).
    assert len(placed) >= min(out["requests"], 100) > 0
    for order in placed:
        assert order["status"] == "placed" and len(order["items"]) == 2
        assert order["total_cents"] == sum(i["quantity"] * i["unit_price_cents"] for i in order["items"]) == 200


def test_a_floor_whose_parameters_drift_from_the_repositories_fails(
        launcher, quiet_stack, repo_root, floor_fixtures, tmp_path):
    # The drift a hand-kept copy allowed: the floor naming a parameter differently from the statement.
    source = (repo_root / "bench" / "floor.py").read_text()
    planted = source.replace('{"order_id": order_id, "owner": customer}', '{"id": order_id, "c": customer}')
    assert planted != source
    copy = tmp_path / "floor.py"
    copy.write_text(planted)
    fixtures, _ = floor_fixtures
    out = run_floor(launcher, quiet_stack, copy, fixtures, "get_order")
    assert out["requests"] > 0
    assert out["errors"]["exceptions"] >= out["requests"], out   # every operation (warm-up ones too) failed
