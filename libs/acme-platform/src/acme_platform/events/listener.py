"""One LISTEN connection per process that fans Postgres notifications out to in-process subscribers.

Used to drop cached copies the moment another process commits a change, and to wake consumers
without polling. If the connection drops, notifications sent meanwhile are lost, so on every
(re)connect the listener calls its reset callbacks: caches flush, consumers catch up from offsets.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from typing import Callable

import psycopg

from ..config import to_libpq_url
from .outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

KeyCallback = Callable[[str | None], None]   # key, or None meaning "anything of this topic changed"


class ChangeListener:
    def __init__(self, database_url: str, *, application_name: str = "acme-listener",
                 reconnect_delay: float = 0.5, channel: str = NOTIFY_CHANNEL):
        self._url = to_libpq_url(database_url)
        self._application_name = application_name
        self._reconnect_delay = reconnect_delay
        self._channel = channel
        self._subscribers: dict[str, list[KeyCallback]] = defaultdict(list)
        self._resets: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        """While False, notifications may be missed: caches must not trust or store entries."""
        return self._connected.is_set()

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
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.cancel_safe() if hasattr(conn, "cancel_safe") else conn.cancel()
            except Exception:
                pass
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
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True,
                                     application_name=self._application_name) as conn:
                    self._conn = conn
                    conn.execute(f'LISTEN "{self._channel}"')
                    # Flush before declaring ourselves connected: caches refuse stores while we are
                    # disconnected, so nothing from before the outage can be served after it.
                    self._reset()
                    self._connected.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.25):
                            self._dispatch(note.payload)
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("change listener lost its connection (%s); reconnecting", exc)
            finally:
                self._connected.clear()
                self._conn = None
            if not self._stop.is_set():
                self.reconnects += 1
                self._stop.wait(self._reconnect_delay)

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
