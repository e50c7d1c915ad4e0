"""Prometheus metrics of consumer groups (served by every service's /metrics).

Under gunicorn each worker writes its own files; gauges say how workers combine: the largest lag any
live worker measured (a dead worker's last reading must not keep the alarm on).
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge

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
