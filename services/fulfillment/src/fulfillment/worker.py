"""The consumer loop of one process: group "fulfillment" over orders.order_placed.

Delivery and exactly-once-in-effect come from acme_platform.Consumer: each batch runs in one unit of
work holding the group's offset row lock (FOR UPDATE), the handler's writes and the new offset commit
together, so a crash or restart resumes after the last committed event and never repeats one. Several
instances may run: the offset row lock makes them take turns, none double-handles.

Woken by the process's ChangeListener (LISTEN/NOTIFY at the placing transaction's commit), with a
poll every `poll_interval` seconds as the fallback for a dropped listener connection.
"""
from __future__ import annotations

import logging
import os
import threading

import acme_orders
from acme_platform import ConfigError, Consumer, Database
from acme_platform.web import Platform

from .handler import fulfil
from .metrics import RUNNING

log = logging.getLogger(__name__)

GROUP = "fulfillment"
EXTENSION = "fulfillment.worker"


def poll_interval_from_env(environ=os.environ) -> float:
    raw = environ.get("FULFILLMENT_POLL_INTERVAL", "")
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("FULFILLMENT_POLL_INTERVAL", f"must be a number of seconds (got {raw!r})") from None
    if not 0.05 <= value <= 60:
        raise ConfigError("FULFILLMENT_POLL_INTERVAL", f"must be between 0.05 and 60 (got {value})")
    return value


def make_consumer(database: Database, *, group: str = GROUP, poll_interval: float = 1.0) -> Consumer:
    return Consumer(database, group, [acme_orders.ORDER_PLACED], fulfil, poll_interval=poll_interval)


class FulfillmentWorker:
    """Runs the consumer in a background thread (a greenlet under gunicorn's gevent worker)."""

    def __init__(self, platform: Platform, *, poll_interval: float = 1.0, group: str = GROUP):
        self.platform = platform
        self.consumer = make_consumer(platform.database, group=group, poll_interval=poll_interval)
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "FulfillmentWorker":
        if self._thread is None:
            listener = self.platform.listener   # per process: started here, in the worker
            self._thread = threading.Thread(target=self._run, args=(listener,), name="fulfillment-consumer",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self, listener) -> None:
        RUNNING.set(1)
        log.info("fulfillment consumer started", extra={"group": self.consumer.group})
        try:
            self.consumer.run_forever(listener)
        finally:
            RUNNING.set(0)
            log.info("fulfillment consumer stopped", extra={"group": self.consumer.group})

    def stop(self, timeout: float = 10.0) -> bool:
        """Let the current batch finish (it commits or rolls back as a whole); True if it stopped in time."""
        self.consumer.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
            if not stopped:
                log.warning("fulfillment consumer did not stop within %.0fs; its open batch will roll back", timeout)
            self._thread = None
            return stopped
        return True


def start_in(app) -> FulfillmentWorker:
    """Start this process's worker for a Flask app built by fulfillment.app.create_app (idempotent)."""
    key = (EXTENSION, os.getpid())
    worker = app.extensions.get(key)
    if worker is None:
        worker = app.extensions[key] = FulfillmentWorker(app.extensions["acme"],
                                                         poll_interval=poll_interval_from_env())
    return worker.start()


def stop_in(app, timeout: float = 10.0) -> None:
    worker = app.extensions.pop((EXTENSION, os.getpid()), None) if app is not None else None
    if worker is not None:
        worker.stop(timeout)
