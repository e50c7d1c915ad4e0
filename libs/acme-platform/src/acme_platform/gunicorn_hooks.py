"""Hooks a service's gunicorn.conf.py re-exports, e.g. `from acme_platform.gunicorn_hooks import *`."""
from __future__ import annotations

from .gevent_compat import ensure_cooperative_waits


def post_worker_init(worker) -> None:  # noqa: ARG001
    # With --preload the app (and psycopg) were imported in the master before the gevent worker
    # patched: switch psycopg to a cooperative wait now, before the first request.
    ensure_cooperative_waits()


__all__ = ["post_worker_init"]
