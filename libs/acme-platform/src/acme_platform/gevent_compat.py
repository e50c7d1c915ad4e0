"""Keep psycopg cooperative under gevent.

psycopg picks its wait function when `psycopg.waiting` is imported: the C `wait_c` unless gevent
has *already* patched `select`. If psycopg was imported first (gunicorn --preload, or any import
order that loads the app before the gevent worker patches), every query blocks the whole worker:
one slow query stalls all its greenlets. We detect that state and switch psycopg to a wait function
that goes through the (patched) `select` module, which is what psycopg would have chosen had the
import order been right.
"""
from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


class GeventCompatibilityError(RuntimeError):
    pass


def gevent_is_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None:
        return False
    try:
        return bool(monkey.is_module_patched("select")) and bool(monkey.is_module_patched("socket"))
    except Exception:  # pragma: no cover - defensive: an odd gevent build
        return False


def psycopg_wait_is_cooperative() -> bool:
    import psycopg.waiting as waiting

    c_wait = getattr(waiting, "wait_c", None)
    return c_wait is None or waiting.wait is not c_wait


def ensure_cooperative_waits() -> bool:
    """If gevent is active and psycopg chose a blocking wait, switch it. Returns True if a fix was applied.

    Raises GeventCompatibilityError if gevent is active and the fix did not take: better to refuse to
    serve than to serialise every request of a worker behind one query.
    """
    if not gevent_is_patched():
        return False
    import psycopg.waiting as waiting

    if psycopg_wait_is_cooperative():
        return False
    waiting.wait = waiting.wait_poll if hasattr(waiting, "wait_poll") else waiting.wait_select
    if hasattr(waiting, "_ready_poll"):
        waiting._ready = waiting._ready_poll
    if not psycopg_wait_is_cooperative():
        raise GeventCompatibilityError(
            "psycopg was imported before gevent monkey-patching and its wait function could not be "
            "switched; start gunicorn without --preload or patch gevent before importing the app"
        )
    log.warning(
        "psycopg was imported before gevent patched select; switched psycopg to a cooperative wait function"
    )
    return True


def run_cpu_bound(fn, *args, **kwargs):
    """Run CPU-heavy work (password hashing) without stalling the gevent hub.

    Under gevent a greenlet that computes for 100 ms stops every other request of its worker for
    100 ms. Work that releases the GIL (argon2 via cffi does) runs in gevent's native thread pool
    instead; without gevent it simply runs here.
    """
    if gevent_is_patched():
        import gevent

        # Exceptions travel back as values: gevent's pool would print the traceback of a task that
        # raises (a wrong password is an expected VerifyMismatchError, not news for the logs).
        ok, value = gevent.get_hub().threadpool.apply(_capture, (fn, args, kwargs))
        if not ok:
            raise value
        return value
    return fn(*args, **kwargs)


def _capture(fn, args, kwargs):
    try:
        return True, fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised in the caller's greenlet
        return False, exc
