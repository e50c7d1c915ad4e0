"""The real thing: gunicorn (from this venv) with one gevent worker against a migrated database.

An order placed through acme_orders is fulfilled within 2 s; after a restart the new process handles
only what is new (its counters prove it never re-handled the first order), and every order has
exactly one fulfilment event.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .helpers import fulfilled_events, fulfilled_within, place, seed_customer, seed_product, stock_of, wait_until

SERVICE_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, database_url: str, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ACME_", "FULFILLMENT_"))}
        # ACME_WEB_WORKERS is ignored on purpose: the service always runs exactly one worker.
        self.env.update(DATABASE_URL=database_url, FULFILLMENT_PORT=str(self.port), ACME_SERVICE_NAME="fulfillment",
                        ACME_WEB_WORKERS="3",
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")

    def start(self) -> None:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "fulfillment.app:create_app()"],
            cwd=SERVICE_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        ok = wait_until(self._ready, timeout=60, interval=0.2)
        assert ok, f"gunicorn did not become ready:\n{self.output()}"

    def _ready(self) -> bool:
        assert self.proc.poll() is None, f"gunicorn exited with {self.proc.returncode}:\n{self.output()}"
        try:
            return requests.get(self.url + "/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            raise

    def outcomes(self) -> dict[str, float]:
        text = requests.get(self.url + "/metrics", timeout=2).text
        for family in text_string_to_metric_families(text):
            if family.name == "fulfillment_orders":
                return {s.labels["outcome"]: s.value for s in family.samples if s.name.endswith("_total")}
        raise AssertionError("fulfillment_orders_total is not exported")

    def output(self) -> str:
        if not self.log.exists():
            return ""
        # /readyz makes alembic log its context setup at INFO on every probe: noise here.
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if "alembic." not in line]
        return "\n".join(lines[-60:])


@pytest.fixture
def gunicorn(fresh_url, tmp_path):
    server = Gunicorn(fresh_url, tmp_path / "gunicorn.log")
    yield server
    server.stop()


def test_worker_fulfils_within_two_seconds_and_survives_a_restart(gunicorn, db, fresh_url):
    sku = seed_product(db, stock=10)
    who = seed_customer(db)
    gunicorn.start()

    first = place(db, who, sku, quantity=2)
    ok, why = fulfilled_within(db, fresh_url, first, timeout=2.0)
    assert ok, why + "\n" + gunicorn.output()
    assert gunicorn.outcomes() == {"fulfilled": 1, "skipped": 0, "missing": 0}

    assert gunicorn.output().count("Booting worker") == 1
    assert gunicorn.stop() == 0, gunicorn.output()      # SIGTERM: a clean, graceful shutdown
    assert "fulfillment consumer stopped" in gunicorn.output()
    gunicorn.start()
    second = place(db, who, sku, quantity=3)
    ok, why = fulfilled_within(db, fresh_url, second, timeout=2.0)
    assert ok, why + "\n" + gunicorn.output()

    # The restarted process resumed after the committed offset: it never even looked at `first`.
    assert gunicorn.outcomes() == {"fulfilled": 1, "skipped": 0, "missing": 0}
    assert sorted(fulfilled_events(db, expect=2)) == sorted([first, second])
    assert stock_of(db, sku) == (5, 0)
