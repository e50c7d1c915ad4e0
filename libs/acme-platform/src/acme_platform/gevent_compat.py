"""Keep psycopg cooperative under gevent, and cheap.

psycopg picks its wait functions when `psycopg.waiting` is imported: the C `wait_c` unless gevent has
*already* patched `select`, and `wait_conn` binds `selectors.DefaultSelector` at that moment. If psycopg
was imported first (gunicorn --preload, or any import order that loads the app before the gevent worker
patches), every query *and every connect* blocks the whole worker: one slow query stalls all its
greenlets. With the right import order psycopg picks `wait_poll`, which is cooperative but goes through
gevent's `select.poll` emulation: a poll object, its watchers, an Event and a timeout per round trip.

In a gevent process we therefore install our own waits in both cases: one `loop.io` watcher per
readiness wait on the current hub, and nothing else.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from time import monotonic

log = logging.getLogger(__name__)


class GeventCompatibilityError(RuntimeError):
    pass


def gevent_is_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None:
        return False
    try:
        return bool(monkey.is_module_patched("select")) and bool(monkey.is_module_patched("socket"))
    except Exception:  # noqa: BLE001 - defensive: an odd gevent build (pragma: no cover)
        return False


def psycopg_wait_is_cooperative() -> bool:
    """Whether psycopg's sync waits (queries and connects) let other greenlets run while they wait.

    True for our gevent waits, and for psycopg's own Python waits when they were bound after gevent
    patched (`wait_conn` uses the `DefaultSelector` of import time). False for the C `wait_c`.
    """
    import psycopg.waiting as waiting

    if psycopg_wait_is_gevent_native():
        return True
    c_wait = getattr(waiting, "wait_c", None)
    if c_wait is not None and waiting.wait is c_wait:
        return False
    import selectors

    return getattr(waiting, "DefaultSelector", selectors.DefaultSelector) is selectors.DefaultSelector


def psycopg_wait_is_gevent_native() -> bool:
    if _gevent_waits is None:
        return False
    import psycopg.waiting as waiting

    wait, wait_conn = _gevent_waits
    return waiting.wait is wait and waiting.wait_conn is wait_conn


def ensure_cooperative_waits() -> bool:
    """In a gevent process, make psycopg wait through gevent's hub. Returns True if the waits were switched.

    Cheap once installed: it runs on every new pooled connection. Raises GeventCompatibilityError if
    gevent is active and the switch did not take: better to refuse to serve than to serialise every
    request of a worker behind one query.
    """
    if not gevent_is_patched():
        return False
    if psycopg_wait_is_gevent_native():
        return False
    import psycopg.waiting as waiting

    # Judged before switching: only an import order that left psycopg blocking deserves a warning.
    was_blocking = not psycopg_wait_is_cooperative()
    waiting.wait, waiting.wait_conn = _build_gevent_waits()
    if not psycopg_wait_is_gevent_native():
        raise GeventCompatibilityError(
            "psycopg's wait functions could not be switched to gevent's hub; if psycopg was imported "
            "before gevent monkey-patching, start gunicorn without --preload or patch gevent before "
            "importing the app"
        )
    if was_blocking:
        log.warning(
            "psycopg was imported before gevent patched select; switched psycopg to gevent's hub for its waits"
        )
    return True


_gevent_waits = None  # (wait, wait_conn) once built: identity is what psycopg_wait_is_gevent_native checks


def _build_gevent_waits():
    """psycopg's `wait` and `wait_conn` contracts (psycopg 3.3 `psycopg/waiting.py`) on gevent's hub.

    Same semantics as psycopg's `wait_poll`: `timeout` bounds the whole call (`_WaitTimeout`), and every
    `interval` seconds without readiness the generator is sent `Ready.NONE`. Under gevent the interval
    wake-up is not needed for Ctrl-C (the hub delivers signals), but it is how a socket closed under a
    waiting greenlet is noticed: epoll forgets a closed fd silently, so its watcher would never fire.
    A non-positive interval means no periodic wake-up (psycopg's own sync callers always pass 0.1 s).
    """
    global _gevent_waits
    if _gevent_waits is not None:
        return _gevent_waits

    from gevent.hub import Waiter, get_hub
    from psycopg import errors as e
    from psycopg.waiting import Ready

    # Wait.R/W/RW are selectors.EVENT_READ/EVENT_WRITE (1, 2), the same bits as gevent's io events.
    ready_of = (Ready.NONE, Ready.R, Ready.W, Ready.RW)

    def ready_within(fileno, s, t):
        """Block this greenlet until fileno is ready for s or t seconds pass (None: no limit)."""
        hub = get_hub()
        loop = hub.loop
        try:
            io = loop.io(fileno, s)
        except OSError as ex:
            raise e.OperationalError("connection socket closed") from ex
        waiter = Waiter(hub)
        timer = None
        try:
            if t is not None:
                # If the socket and the timer are due in the same loop iteration, readiness wins:
                # data already there is processed (a zero timeout polls once, as in wait_poll).
                io.priority = loop.MAXPRI
                # libuv timers have 1 ms resolution and warn below it; the deadline check is ours anyway.
                timer = loop.timer(t if t == 0 or t >= 0.001 else 0.001)
                timer.start(waiter.switch, 0)
            io.start(waiter.switch, pass_events=True)
            events = waiter.get()
        finally:
            # Also when the greenlet is killed or a gevent.Timeout fires while waiting: no watcher
            # may outlive the wait (it would switch into whatever the greenlet does next).
            io.stop()
            io.close()
            if timer is not None:
                timer.stop()
                timer.close()
        if events.__class__ is not int:   # what hub.wait() checks too: someone else switched in
            raise RuntimeError(f"unexpected switch into a psycopg wait: {events!r}")
        return ready_of[events & 3]

    def periods(interval, timeout):
        if interval is None:
            raise ValueError("indefinite wait not supported anymore")
        return (interval if interval > 0 else None), (None if timeout is None else monotonic() + timeout)

    def next_wait(interval, deadline):
        if deadline is None:
            return interval
        remaining = max(0.0, deadline - monotonic())
        return remaining if interval is None else min(interval, remaining)

    def wait_gevent(gen, fileno, interval=0.0, timeout=None):
        interval, deadline = periods(interval, timeout)
        try:
            s = next(gen)
            while True:
                ready = ready_within(fileno, s, next_wait(interval, deadline))
                if not ready:
                    _check_fd_open(fileno, e)
                s = gen.send(ready)
                # After resuming the generator, so that data already available is processed.
                if deadline is not None and monotonic() >= deadline:
                    raise e._WaitTimeout("wait timeout expired")
        except StopIteration as ex:
            return ex.value

    def wait_conn_gevent(gen, interval=0.0, timeout=None):
        # The socket may change while connecting (one per attempted address): the generator yields it.
        interval, deadline = periods(interval, timeout)
        try:
            fileno, s = next(gen)
            while True:
                ready = ready_within(fileno, s, next_wait(interval, deadline))
                fileno, s = gen.send(ready)
                if deadline is not None and monotonic() >= deadline:
                    raise e._WaitTimeout("wait timeout expired")
        except StopIteration as ex:
            return ex.value

    _gevent_waits = (wait_gevent, wait_conn_gevent)
    return _gevent_waits


def _check_fd_open(fileno, errors):
    try:
        os.fstat(fileno)
    except OSError as ex:
        raise errors.OperationalError("connection socket closed") from ex


def run_cpu_bound(fn, *args, **kwargs):
    """Run CPU-heavy work (password hashing) without stalling the gevent hub.

    Under gevent a greenlet that computes for 100 ms stops every other request of its worker for
    100 ms. Work that releases the GIL (argon2 via cffi does) runs in gevent's native thread pool
    instead, at a lower CPU priority than the worker's own thread (CPU_BOUND_NICENESS): with both
    cores busy hashing (a login flood), the OS still gives the thread serving every other request
    the CPU first, so the flood slows logins, not wallet reads. Without gevent it simply runs here.
    """
    if gevent_is_patched():
        import gevent

        # Exceptions travel back as values: gevent's pool would print the traceback of a task that
        # raises (a wrong password is an expected VerifyMismatchError, not news for the logs).
        ok, value = gevent.get_hub().threadpool.apply(_capture_deprioritized, (fn, args, kwargs))
        if not ok:
            raise value
        return value
    return fn(*args, **kwargs)


# Linux scheduling weights: nice 10 gets ~1/10 of the CPU a nice-0 thread gets when both want it.
CPU_BOUND_NICENESS = 10


def _capture_deprioritized(fn, args, kwargs):
    # A pool thread (never the worker's main thread), so only CPU-bound work is slowed; the niceness
    # stays with the thread, and threads a native library starts from it (argon2's lanes) inherit it.
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < CPU_BOUND_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, CPU_BOUND_NICENESS)
    except (AttributeError, OSError):   # not Linux, or not permitted: run at normal priority
        pass
    return _capture(fn, args, kwargs)


def _capture(fn, args, kwargs):
    try:
        return True, fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised in the caller's greenlet
        return False, exc
