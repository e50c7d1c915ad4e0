"""psycopg waits on gevent's hub: what ensure_cooperative_waits() installs, and that it holds up.

Every test runs its scenario in a fresh interpreter: monkey-patching the pytest process is not an option.
"""
import os
import subprocess
import sys
import textwrap

import pytest

ORDERS = pytest.mark.parametrize("psycopg_first", [True, False], ids=["psycopg-imported-first", "gevent-first"])


@pytest.fixture(scope="module")
def database_url(make_database):
    return make_database()


def run_patched(code: str, database_url: str, *, psycopg_first: bool) -> subprocess.CompletedProcess:
    # psycopg first is what gunicorn --preload produces: it binds its blocking waits before gevent patches.
    prelude = ("import psycopg, psycopg.waiting\n" if psycopg_first else "") + (
        "from gevent import monkey\n"
        "monkey.patch_all()\n"
        "import os, gevent, psycopg, psycopg.waiting as waiting\n"
        "from acme_platform import gevent_compat\n"
        "URL = os.environ['DATABASE_URL']\n"
        "ticks = 0\n"
        "def ticker():\n"
        "    global ticks\n"
        "    while True:\n"
        "        gevent.sleep(0.01)\n"
        "        ticks += 1\n"
    )
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                         env=dict(os.environ, DATABASE_URL=database_url), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok"), out.stdout
    return out


@ORDERS
def test_the_gevent_native_wait_is_installed_and_carries_connect_query_and_commit(database_url, psycopg_first):
    out = run_patched("""
        assert not gevent_compat.psycopg_wait_is_gevent_native()
        assert gevent_compat.ensure_cooperative_waits() is True
        assert gevent_compat.psycopg_wait_is_gevent_native()
        assert gevent_compat.psycopg_wait_is_cooperative()
        assert waiting.wait.__name__ == "wait_gevent" and waiting.wait_conn.__name__ == "wait_conn_gevent"
        assert gevent_compat.ensure_cooperative_waits() is False   # per new connection: a no-op from now on

        # psycopg must look the functions up at call time for the switch to matter: count what it calls.
        calls = {"wait": 0, "wait_conn": 0}
        native_wait, native_wait_conn = waiting.wait, waiting.wait_conn
        def counted(name, fn):
            def wrapper(*args, **kwargs):
                calls[name] += 1
                return fn(*args, **kwargs)
            return wrapper
        waiting.wait, waiting.wait_conn = counted("wait", native_wait), counted("wait_conn", native_wait_conn)

        with psycopg.connect(URL) as conn:
            assert calls["wait_conn"] == 1
            conn.execute("CREATE TABLE IF NOT EXISTS gw_rows (n int)")
            # A deferred constraint trigger runs at COMMIT: COMMIT itself waits 0.3 s on the server.
            conn.execute(\"\"\"
                CREATE OR REPLACE FUNCTION gw_slow() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$\"\"\")
            conn.execute("DROP TRIGGER IF EXISTS gw_slow_commit ON gw_rows")
            conn.execute("CREATE CONSTRAINT TRIGGER gw_slow_commit AFTER INSERT ON gw_rows "
                         "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gw_slow()")
            conn.commit()
            gevent.spawn(ticker)
            conn.execute("INSERT INTO gw_rows VALUES (1)")
            before_commit, waits_before = ticks, calls["wait"]
            conn.commit()
            assert calls["wait"] > waits_before
            assert ticks - before_commit >= 5, f"COMMIT blocked the hub ({ticks - before_commit} ticks)"
            before_query = ticks
            assert conn.execute("SELECT pg_sleep(0.3), 42").fetchone()[1] == 42
            assert ticks - before_query >= 5, f"a query blocked the hub ({ticks - before_query} ticks)"
        with psycopg.connect(URL) as other:
            assert other.execute("SELECT count(*) FROM gw_rows").fetchone()[0] >= 1
        assert calls["wait_conn"] == 2
        print("ok")
    """, database_url, psycopg_first=psycopg_first)
    # The warning is for the import order that would have blocked, not for every gevent process.
    warned = "imported before gevent patched select" in out.stderr
    assert warned is psycopg_first, out.stderr


@ORDERS
def test_connecting_to_a_silent_server_does_not_freeze_the_hub(database_url, psycopg_first):
    # psycopg's own wait_conn binds DefaultSelector at import: imported first, it is the OS epoll,
    # and every connect froze the worker for up to connect_timeout.
    run_patched("""
        import socket, time
        gevent_compat.ensure_cooperative_waits()
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)   # the kernel completes the handshake; nobody ever answers the startup packet
        gevent.spawn(ticker)
        started = time.monotonic()
        try:
            psycopg.connect(f"postgresql://nobody@127.0.0.1:{silent.getsockname()[1]}/x", connect_timeout=2)
        except psycopg.OperationalError as exc:
            assert "timeout" in str(exc), exc
        else:
            raise AssertionError("connected to a socket that never answers")
        assert time.monotonic() - started >= 1.9   # the timeout was honoured, not cut short
        assert ticks >= 50, f"the connect attempt blocked the hub ({ticks} ticks in 2 s)"
        print("ok")
    """, database_url, psycopg_first=psycopg_first)


@ORDERS
def test_concurrent_queries_overlap_and_notifies_honour_timeouts(database_url, psycopg_first):
    run_patched("""
        import time
        gevent_compat.ensure_cooperative_waits()

        def sleeper():
            with psycopg.connect(URL) as conn:
                return conn.execute("SELECT pg_sleep(0.2), 1").fetchone()[1]

        started = time.monotonic()
        assert [g.get() for g in [gevent.spawn(sleeper) for _ in range(20)]] == [1] * 20
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"20 concurrent pg_sleep(0.2) took {elapsed:.2f}s: the waits are serialised"

        with psycopg.connect(URL, autocommit=True) as listener:
            listener.execute("LISTEN gw_channel")
            # Nothing arrives: notifies() must come back after its timeout (the change listener loops on it).
            assert list(listener.notifies(timeout=0.2)) == []
            def notify():
                with psycopg.connect(URL, autocommit=True) as conn:
                    conn.execute("NOTIFY gw_channel, 'hello'")
            gevent.spawn_later(0.1, notify)
            received = [n.payload for n in listener.notifies(timeout=10, stop_after=1)]
            assert received == ["hello"], received
        print("ok")
    """, database_url, psycopg_first=psycopg_first)


@ORDERS
def test_a_greenlet_killed_mid_query_releases_its_watchers(database_url, psycopg_first):
    run_patched("""
        import gc
        from gevent.hub import get_hub
        assert type(get_hub().loop).__module__ == "gevent.libev.corecext"   # the counts below are libev's
        gevent_compat.ensure_cooperative_waits()
        loop = get_hub().loop

        def active_io_on(fd):
            return [w for w in gc.get_objects() if type(w).__name__ == "io" and w.fd == fd and w.active]

        def interrupted(stop):
            conn = psycopg.connect(URL, autocommit=True)
            fd, baseline, backend = conn.fileno(), loop.activecnt, conn.info.backend_pid
            victim = gevent.spawn(conn.execute, "SELECT pg_sleep(30)")
            gevent.sleep(0.3)
            assert len(active_io_on(fd)) == 1   # the query is waiting on its socket right now
            stop(victim)
            assert victim.dead
            assert active_io_on(fd) == [], "a watcher outlived the killed greenlet"
            assert loop.activecnt == baseline, (loop.activecnt, baseline)   # its timer went too
            # The query is still running server-side: psycopg refuses the connection, which closes cleanly.
            try:
                conn.execute("SELECT 1")
            except psycopg.OperationalError as exc:
                assert "in progress" in str(exc), exc
            else:
                raise AssertionError("reused a connection with a query in flight")
            conn.close()
            assert conn.closed
            with psycopg.connect(URL, autocommit=True) as admin:   # don't leave pg_sleep(30) running
                admin.execute("SELECT pg_terminate_backend(%s)", (backend,))

        interrupted(lambda g: g.kill(block=True))
        def timed_out(g):   # a gevent.Timeout inside the greenlet takes the same path
            g.kill(gevent.Timeout(), block=True)
        interrupted(timed_out)

        # A socket closed under a waiting greenlet raises instead of waiting forever.
        conn = psycopg.connect(URL, autocommit=True)
        conn.execute("LISTEN gw_never")
        def listen():
            for _ in conn.notifies():
                pass
        waiter = gevent.spawn(listen)
        gevent.sleep(0.2)
        conn.close()
        waiter.join(timeout=10)
        assert waiter.dead and isinstance(waiter.exception, psycopg.OperationalError), waiter.exception

        with psycopg.connect(URL) as fresh:
            assert fresh.execute("SELECT 1").fetchone() == (1,)
        print("ok")
    """, database_url, psycopg_first=psycopg_first)
