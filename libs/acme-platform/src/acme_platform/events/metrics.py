"""Prometheus metrics of consumer groups (served by every service's /metrics).

Under gunicorn each worker writes its own files; gauges say how workers combine: the largest lag any
live worker measured (a dead worker's last reading must not keep the alarm on).

prometheus-client comes with acme-platform[web] (the services, which serve /metrics); the core runs
without it (a domain's tests, a consumer in a script), and then these metrics count nothing. The one
import of it in the core, allowed by name in the "platform-core" import contract (make check).
"""
from __future__ import annotations

try:
    from prometheus_client import Counter, Gauge
except ImportError:  # the core without the web extra: nobody could scrape the numbers anyway
    class _Unmeasured:
        """Stands in for a Counter or Gauge: accepts every update, keeps nothing."""

        def __init__(self, *args, **kwargs):
            pass

        def labels(self, *_values):
            return self

        def inc(self, amount=1):
            pass

        def set(self, value):
            pass

    Counter = Gauge = _Unmeasured  # type: ignore[assignment,misc]

RETRIES = Counter(
    "acme_events_retries_total",
    "Handler failures that will be retried after a backoff, by consumer group",
    ["group"],
)
DEAD_LETTERS = Counter(
    "acme_events_dead_letters_total",
    "Events given up after the last attempt and parked in acme_platform.dead_letters, by consumer group",
    ["group"],
)
REPLAYED = Counter(
    "acme_events_replayed_total",
    "Dead letters replayed on an operator's request, by consumer group and outcome (replayed, failed)",
    ["group", "outcome"],
)
LAG_EVENTS = Gauge(
    "acme_events_lag_events",
    "Outbox rows a consumer group has not passed yet, by group and domain",
    ["group", "domain"],
    multiprocess_mode="livemax",
)
LAG_SECONDS = Gauge(
    "acme_events_lag_seconds",
    "Age of the oldest outbox row a consumer group has not passed yet (0 when caught up)",
    ["group", "domain"],
    multiprocess_mode="livemax",
)
