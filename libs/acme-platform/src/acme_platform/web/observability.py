"""Request ids, JSON logs and Prometheus metrics."""
from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from pythonjsonlogger.json import JsonFormatter

REQUESTS = Counter("acme_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"])
LATENCY = Histogram(
    "acme_http_request_duration_seconds", "HTTP request latency", ["service", "method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = getattr(request, "request_id", None)
        except RuntimeError:  # outside a request
            record.request_id = None
        return True


def configure_json_logging(service: str, level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_acme", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._acme = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
    ))
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces its context on every readiness check; that is not news.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def install(app: Flask, service: str) -> None:
    access = logging.getLogger("acme.access")

    @app.before_request
    def _start():
        rid = request.headers.get("X-Request-Id", "")
        request.request_id = rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex
        g._acme_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response):
        response.headers["X-Request-Id"] = getattr(request, "request_id", "")
        started = g.get("_acme_started")
        if started is not None:
            elapsed = time.perf_counter() - started
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            REQUESTS.labels(service, request.method, endpoint, str(response.status_code)).inc()
            LATENCY.labels(service, request.method, endpoint).observe(elapsed)
            if endpoint not in ("/healthz", "/metrics"):
                access.info("request", extra={"method": request.method, "path": request.path,
                                              "status": response.status_code,
                                              "duration_ms": round(elapsed * 1000, 2)})
        return response

    @app.get("/metrics")
    def _metrics():
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Under gunicorn (gunicorn_conf sets the directory): every worker's counts, added up.
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
