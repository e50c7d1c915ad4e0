"""A LISTEN connection that stalls without dropping (SIGSTOPped backend: what a half-open TCP connection
looks like) is noticed within ping_interval + ping_timeout; caches stop serving meanwhile; every entry
has a maximum age. Real Postgres; the backend is stopped with a real signal."""
import os
import signal
import time
import uuid

import psycopg
import pytest

from acme_platform import ChangeListener, InvalidatingCache


def wait_until(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def backend_of(url, application_name):
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                            (application_name,)).fetchall()
    return [pid for (pid,) in rows]


@pytest.fixture
def stoppable(migrated_database_url):
    """Stops Postgres backends with SIGSTOP and always lets them go again (SIGCONT) afterwards."""
    stopped = []

    def stop(pid):
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)

    yield stop
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_a_stalled_listener_is_noticed_the_cache_bypassed_then_it_reconnects_and_flushes(
        migrated_database_url, stoppable):
    name = f"stall-{uuid.uuid4().hex[:8]}/listener"
    listener = ChangeListener(migrated_database_url, application_name=name, ping_interval=0.2, ping_timeout=0.5,
                              reconnect_delay=0.05).start()
    try:
        assert listener.wait_connected(10)
        cache = InvalidatingCache(listener, ["platform.test_changed"])
        cache.put("token", "still valid")
        # Pings come back: live for longer than the stale bound.
        time.sleep(3 * listener.stale_after)
        assert listener.connected and cache.get("token") == "still valid" and listener.stalls == 0

        [pid] = backend_of(migrated_database_url, name)
        stoppable(pid)
        stopped_at = time.monotonic()
        # The socket stays open and silent, so only the missing round trip can tell.
        assert wait_until(lambda: cache.get("token") is None, timeout=5)
        noticed = time.monotonic() - stopped_at
        assert noticed <= listener.stale_after + 0.5, f"stale cache served {noticed:.2f}s after the stall"
        cache.put("token", "loaded while stalled")          # not stored: notifications may be missed
        assert cache.get("token") is None

        # A new connection (the stopped backend stays stopped): live again, flushed.
        assert wait_until(lambda: listener.connected and listener.stalls == 1, timeout=10)
        # The stopped backend is still there (it cannot even read its socket's EOF); one new one beside it.
        assert len(set(backend_of(migrated_database_url, name)) - {pid}) == 1
        assert cache.get("token") is None
        cache.put("token", "fresh")
        assert cache.get("token") == "fresh"
    finally:
        listener.stop()


def test_every_entry_has_a_maximum_age():
    class Listener:          # only what the cache asks of a listener: always live, never notifies
        connected = True
        max_entry_age = 30.0

        def subscribe(self, topic, callback):
            pass

        def on_reset(self, callback):
            pass

    now = [1000.0]
    cache = InvalidatingCache(Listener(), ["platform.test_changed"], clock=lambda: now[0])
    assert cache.max_age == 30.0          # the listener's ACME_CACHE_MAX_AGE by default
    cache.put("k", "v")
    now[0] += 29.9
    assert cache.get("k") == "v"
    now[0] += 0.2
    assert cache.get("k") is None and len(cache) == 0
    short = InvalidatingCache(Listener(), ["platform.test_changed"], max_age=1.0, clock=lambda: now[0])
    short.put("k", "v")
    now[0] += 1.01
    assert short.get("k") is None
