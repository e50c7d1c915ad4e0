"""Prometheus metrics of domain calls, per domain and function (served by every service's /metrics).

prometheus-client comes with acme-platform[web] (the services, which serve /metrics); the core runs
without it (a domain's own tests, a script), and then nothing is recorded. Allowed by name in the
"platform-core" import contract (make check), like acme_platform.events.metrics.

ACME_DOMAIN_METRICS=off turns them off in a process that has prometheus-client (read at the first call).
Imported by calls.py at the first call in a process, never at import: see calls._recorder.
"""
from __future__ import annotations

import os
from typing import Any

try:
    from prometheus_client import Counter, Histogram
except ImportError:  # the core without the web extra: nobody could scrape the numbers anyway
    Counter = Histogram = None  # type: ignore[assignment,misc]

ENABLED = Counter is not None and os.environ.get("ACME_DOMAIN_METRICS", "on").lower() not in ("off", "0", "false")

if Counter is not None:
    CALLS = Counter("acme_domain_calls_total", "Calls into a domain's public API, by domain and function",
                    ["domain", "function"])
    ERRORS = Counter("acme_domain_errors_total",
                     "Domain calls that raised, by domain, function and error code (DomainError.code; "
                     "'unexpected' for any other exception)", ["domain", "function", "code"])
    DURATION = Histogram(
        "acme_domain_call_duration_seconds", "Latency of a domain call (including the domains it calls)",
        ["domain", "function"],
        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
    STATEMENTS = Counter("acme_domain_statements_total",
                         "SQL statements issued by a domain call's own code (a call into another domain "
                         "counts there), by domain and function", ["domain", "function"])


class FunctionMetrics:
    """The label children of one function, looked up once (labels() costs more than inc())."""

    __slots__ = ("calls", "duration", "statements", "_errors", "_labels")

    def __init__(self, domain: str, function: str):
        self._labels = (domain, function)
        self.calls = CALLS.labels(domain, function)
        self.duration = DURATION.labels(domain, function)
        self.statements = STATEMENTS.labels(domain, function)
        self._errors: dict[str, Any] = {}

    def error(self, code: str) -> None:
        child = self._errors.get(code)
        if child is None:
            child = self._errors[code] = ERRORS.labels(*self._labels, code)
        child.inc()
