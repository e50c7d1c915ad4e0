"""What happens to one orders.order_placed event.

Runs inside the consumer's unit of work, which also advances the group's offset: the order's move
to `fulfilled` (and catalog's stock commit) and "this event is done" commit together or not at all.
Metrics and logs wait for that commit, so they never count work that was rolled back.
"""
from __future__ import annotations

import logging
import time

import acme_orders
from acme_platform import Event, UnitOfWork

from .metrics import HANDLER_ERRORS, LAG, LAST_HANDLED, ORDERS

log = logging.getLogger(__name__)


def fulfil(uow: UnitOfWork, event: Event) -> str:
    """Fulfil the placed order; returns the outcome ("fulfilled", "skipped" or "missing")."""
    order_id = event.payload.get("order_id") or event.key
    try:
        acme_orders.mark_fulfilled(uow, order_id)
        outcome = "fulfilled"
    except acme_orders.InvalidTransition as exc:
        # Cancelled (or fulfilled by hand) between placement and now: nothing to ship.
        outcome = "skipped"
        status = exc.extra.get("status")
        uow.after_commit(lambda: log.info("order not fulfilled: it is %s", status,
                                          extra={"order_id": order_id, "event_id": event.event_id}))
    except acme_orders.OrderNotFound:
        # Cannot happen for an event written with its order; retrying would block the group forever.
        outcome = "missing"
        uow.after_commit(lambda: log.error("order of the event does not exist; skipped",
                                           extra={"order_id": order_id, "event_id": event.event_id}))
    except Exception:
        HANDLER_ERRORS.inc()
        raise
    placed_at = event.created_at.timestamp()

    def done() -> None:
        ORDERS.labels(outcome).inc()
        LAG.observe(max(time.time() - placed_at, 0.0))
        LAST_HANDLED.set(placed_at)
        if outcome == "fulfilled":
            log.info("order fulfilled", extra={"order_id": order_id, "event_id": event.event_id})

    uow.after_commit(done)
    return outcome
