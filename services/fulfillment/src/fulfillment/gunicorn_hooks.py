"""gunicorn hooks that run the consumer inside the (single) worker process.

Kept import-light: gunicorn.conf.py is read by the master, which must not import psycopg or start
threads (they would not survive the fork, and psycopg must be imported after gevent patches).
"""
from __future__ import annotations

import os
from typing import Any, MutableMapping


def run_consumer_in_worker(namespace: MutableMapping[str, Any]) -> None:
    """Call after acme_platform's configure(): ONE worker (the HTTP side is only health and metrics;
    more consumers belong in more instances, which take turns on the offset lock), and hooks that
    start the consumer after the platform's own per-worker start and stop it before the platform's."""
    namespace["workers"] = 1
    platform_post_worker_init = namespace.get("post_worker_init")
    platform_worker_exit = namespace.get("worker_exit")
    graceful = float(namespace.get("graceful_timeout") or 20)

    def post_worker_init(worker) -> None:
        if platform_post_worker_init is not None:
            platform_post_worker_init(worker)
        from .worker import start_in

        start_in(worker.wsgi)

    def worker_exit(server, worker) -> None:
        from .worker import stop_in

        # Leave gunicorn a little of its graceful window for the platform's own shutdown.
        stop_in(getattr(worker, "wsgi", None), timeout=max(graceful - 5, 1))
        if platform_worker_exit is not None:
            platform_worker_exit(server, worker)

    namespace["post_worker_init"] = post_worker_init
    namespace["worker_exit"] = worker_exit
    namespace.setdefault("proc_name", os.environ.get("ACME_SERVICE_NAME") or "fulfillment")
