"""One LISTEN connection per process that fans Postgres notifications out to in-process subscribers.

Used to drop cached copies the moment another process commits a change, and to wake consumers
without polling. If the connection drops, notifications sent meanwhile are lost, so on every
(re)connect the listener calls its reset callbacks: caches flush, consumers catch up from offsets.

A LISTEN connection can also stall without dropping: a half-open TCP connection, a backend that stopped
(SIGSTOP), a host that vanished. Nothing arrives, which looks exactly like "nothing changed". So the
listener proves its connection live: every `ping_interval` seconds it sends a NOTIFY on its own
connection to a channel only it listens on and must see it come back within `ping_timeout`; otherwise it
drops the connection and reconnects (resetting). `connected` is true only while the last proof is
younger than ping_interval + ping_timeout, whatever the listener thread is doing, so caches stop
trusting a stalled listener within that bound even before it reconnects. TCP keepalives and
tcp_user_timeout make the kernel give up on a dead peer too.
"""
from __future__ import annotations

import json
import logging
import select
import threading
import time
import uuid
from collections import defaultdict
from typing import Callable

import psycopg
from psycopg import pq

from ..config import to_libpq_url
from .outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

KeyCallback = Callable[[str | None], None]   # key, or None meaning "anything of this topic changed"


class ListenerStalled(RuntimeError):
    """The LISTEN connection did not answer a round trip in time."""


# libpq's TCP settings for the LISTEN connection: a peer that stops answering is given up after about
# 5 s of unacknowledged data (tcp_user_timeout) or 3 + 2 x 1 s of silent keepalive probes.
_TCP = {"keepalives": 1, "keepalives_idle": 3, "keepalives_interval": 1, "keepalives_count": 2,
        "tcp_user_timeout": 5000, "connect_timeout": 5}


class ChangeListener:
    def __init__(self, database_url: str, *, application_name: str = "acme-listener",
                 reconnect_delay: float = 0.5, channel: str = NOTIFY_CHANNEL, ping_interval: float = 1.0,
                 ping_timeout: float = 2.0, max_entry_age: float = 30.0, max_reconnect_delay: float = 2.0):
        self._url = to_libpq_url(database_url)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        # Caches built on this listener keep no entry longer than this (InvalidatingCache's default).
        self.max_entry_age = max_entry_age
        self._proven_at = 0.0      # monotonic time of the last round trip seen on the connection
        self.stalls = 0
        self._application_name = application_name
        self._reconnect_delay = reconnect_delay
        # Failed connects back off, doubling up to this: a database that is down (a failover under way)
        # is not hammered by every worker, and one that is back is found again within this bound.
        self._max_reconnect_delay = max(max_reconnect_delay, reconnect_delay)
        self._channel = channel
        self._subscribers: dict[str, list[KeyCallback]] = defaultdict(list)
        self._resets: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self.reconnects = 0
        self._listening_attempt = -1     # the value of `reconnects` when LISTEN last succeeded

    @property
    def connected(self) -> bool:
        """Connected AND proven live recently. While False, notifications may be missed: caches must not
        trust or store entries."""
        return self._connected.is_set() and time.monotonic() - self._proven_at <= self.stale_after

    @property
    def stale_after(self) -> float:
        """Seconds after the last round trip from which the connection is no longer trusted."""
        return self._ping_interval + self._ping_timeout

    def subscribe(self, topic: str, callback: KeyCallback) -> None:
        self._subscribers[topic].append(callback)

    def on_reset(self, callback: Callable[[], None]) -> None:
        self._resets.append(callback)

    def start(self) -> "ChangeListener":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="acme-change-listener", daemon=True)
            self._thread.start()
        return self

    def wait_connected(self, timeout: float = 5.0) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stop.set()    # the loop looks at it at least every 0.25 s
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def drop_connection(self) -> None:
        """Close the LISTEN connection from outside (tests and drills): the listener reconnects."""
        conn = self._conn
        if conn is not None:
            try:
                with psycopg.connect(self._url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            except Exception:
                log.exception("could not terminate listener connection")

    # -- internals ---------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0    # connects in a row that never got to LISTEN
        while not self._stop.is_set():
            conn = None
            listened_at = self.reconnects
            try:
                conn = psycopg.connect(self._url, autocommit=True, application_name=self._application_name, **_TCP)
                self._conn = conn
                self._listen(conn)
            except Exception as exc:  # noqa: BLE001 - the listener reconnects after any failure
                if self._stop.is_set():
                    break
                if isinstance(exc, ListenerStalled):
                    self.stalls += 1
                log.warning("change listener lost its connection (%s); reconnecting",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            finally:
                self._connected.clear()
                self._conn = None
                if conn is not None:
                    try:
                        conn.close()    # never waits for the server: a stalled one would not answer
                    except Exception:  # noqa: BLE001 - closing a dead connection may fail any way
                        pass
            if not self._stop.is_set():
                failures = 0 if self._listened_since(listened_at) else failures + 1
                self.reconnects += 1
                self._stop.wait(self.reconnect_delay(failures))

    def reconnect_delay(self, failures: int) -> float:
        """The pause before the next connect after `failures` failed ones in a row (0: the connection
        worked and then dropped): doubling from reconnect_delay, at most max_reconnect_delay."""
        return min(self._reconnect_delay * 2 ** max(failures - 1, 0), self._max_reconnect_delay)

    def _listened_since(self, attempt: int) -> bool:
        return self._listening_attempt == attempt

    def _listen(self, conn: psycopg.Connection) -> None:
        """LISTEN, then read notifications and prove the connection live with a NOTIFY to itself.

        Driven through libpq's asynchronous calls (send, consume, poll the socket with a timeout), so
        a backend that stops answering can never block this thread: the missing answer is noticed."""
        ping_channel = f"acme_ping_{uuid.uuid4().hex}"
        conn.execute(f'LISTEN "{self._channel}"; LISTEN "{ping_channel}"')
        self._listening_attempt = self.reconnects
        # Flush before declaring ourselves connected: caches refuse stores while we are
        # disconnected, so nothing from before the outage can be served after it.
        self._reset()
        self._proven_at = time.monotonic()
        self._connected.set()
        pgconn = conn.pgconn
        seq = 0
        expecting: bytes | None = None   # the ping payload not seen back yet
        sent_at = 0.0
        busy = False                      # a ping's results not all read yet
        while not self._stop.is_set():
            now = time.monotonic()
            if expecting is not None and now - sent_at > self._ping_timeout:
                raise ListenerStalled(f"no answer to a NOTIFY round trip within {self._ping_timeout:g}s")
            if expecting is None and not busy and now - self._proven_at >= self._ping_interval:
                seq += 1
                expecting = str(seq).encode()
                pgconn.send_query(f"NOTIFY \"{ping_channel}\", '{seq}'".encode())
                sent_at, busy = now, True
            if pgconn.flush() != 0:       # not all sent yet (never for a NOTIFY, but be exact)
                select.select([], [pgconn.socket], [], 0.25)
                continue
            readable, _, _ = select.select([pgconn.socket], [], [], 0.25)
            if readable:
                pgconn.consume_input()    # raises once the connection is gone
            while busy and not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:
                    busy = False
                elif result.status == pq.ExecStatus.FATAL_ERROR:
                    raise psycopg.OperationalError((result.error_message or b"").decode(errors="replace").strip())
            while (note := pgconn.notifies()) is not None:
                if note.relname.decode() == ping_channel:
                    if note.extra == expecting:
                        expecting = None
                        self._proven_at = time.monotonic()
                else:
                    self._dispatch(note.extra.decode())

    def _reset(self) -> None:
        for callback in list(self._resets):
            try:
                callback()
            except Exception:
                log.exception("listener reset callback failed")

    def _dispatch(self, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            log.warning("ignoring malformed notification %r", payload[:200])
            return
        changes: list[tuple[str, str | None]] = [(t, k) for t, k in message.get("events", [])]
        changes += [(t, None) for t in message.get("topics", [])]
        for topic, key in changes:
            for callback in self._subscribers.get(topic, ()):
                try:
                    callback(key)
                except Exception:
                    log.exception("subscriber for %s failed", topic)
