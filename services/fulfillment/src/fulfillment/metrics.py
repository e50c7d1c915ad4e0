"""Prometheus metrics of the fulfillment worker (served by the platform's /metrics)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ORDERS = Counter(
    "fulfillment_orders_total",
    "orders.order_placed events handled, by outcome (fulfilled; skipped: cancelled or fulfilled meanwhile; "
    "missing: no such order)",
    ["outcome"],
)
for _outcome in ("fulfilled", "skipped", "missing"):
    ORDERS.labels(_outcome)  # export zeros: "no skips since start" is an observable fact, not an absence

HANDLER_ERRORS = Counter(
    "fulfillment_handler_errors_total",
    "Handler failures (retried with backoff, then dead-lettered: see acme_events_retries_total and "
    "acme_events_dead_letters_total)",
)
LAG = Histogram(
    "fulfillment_event_lag_seconds",
    "Seconds from the order's placement (its outbox row) to its fulfilment being committed",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
# Under gunicorn every worker writes its own metric files (acme-platform's multiprocess /metrics);
# these say how the workers' values combine: the newest handled, and how many loops run right now.
LAST_HANDLED = Gauge(
    "fulfillment_last_handled_event_timestamp_seconds",
    "Placement time of the newest order handled; time() minus this is the consumer's lag when behind",
    multiprocess_mode="max",
)
RUNNING = Gauge("fulfillment_consumer_running", "consumer loops running (1 per live worker whose loop runs)",
                multiprocess_mode="livesum")
