"""The fulfillment process's web side: the platform app (health, readiness, metrics) and nothing else.

The consumer is not started here: an app factory also runs in tests and tools. gunicorn starts it in
the worker (fulfillment.gunicorn_hooks); fulfillment.worker.start_in(app) does it anywhere else.
"""
from __future__ import annotations

import acme_orders
from acme_platform import Settings
from acme_platform.web import create_app as platform_app
from flask import Flask

from . import __version__, metrics  # noqa: F401 - registers the counters before /metrics is scraped
from .worker import GROUP

SERVICE = "fulfillment"
DOMAINS = ["orders"]   # + catalog and billing, which orders depends on (readiness checks all three)


def create_app(settings: Settings | None = None, *, json_logs: bool = True) -> Flask:
    app = platform_app(__name__, service_name=SERVICE, service_version=__version__, domains=DOMAINS,
                       settings=settings, json_logs=json_logs)
    # /readyz fails while the group lags more than ACME_EVENTS_MAX_LAG_SECONDS (stuck or too slow).
    app.extensions["acme"].watch_consumer(GROUP, [acme_orders.ORDER_PLACED])
    return app
