"""Consumer groups over the domain outboxes: at-least-once, in transaction order, no skipped rows.

Why (txid, id) and the horizon: outbox ids are allocated when a row is inserted, not when its
transaction commits, so id 11 can become visible before id 10. Reading "id > last seen" would skip
10 forever. Instead we read only rows written by transactions older than the oldest one still
running in this database (see _horizon): no such row can appear later. We order by (txid, id) and remember the
last pair per group and domain.

Each event is handled in its own unit of work together with the offset update, so for handlers that
only write to the database the effect is exactly once; for anything else the event id lets the
handler be idempotent (delivery is at least once).
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

import sqlalchemy as sa

from ..db import Database
from ..uow import UnitOfWork
from .listener import ChangeListener
from .outbox import Event, validate_topic

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Event], None]


class Consumer:
    def __init__(
        self,
        database: Database,
        group: str,
        topics: Iterable[str],
        handler: Handler,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
    ):
        self.database = database
        self.group = group
        self.topics = sorted({validate_topic(t) for t in topics})
        if not self.topics:
            raise ValueError("a consumer needs at least one topic")
        self.handler = handler
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._domains = sorted({t.split(".", 1)[0] for t in self.topics})
        self._wake = threading.Event()
        self._stop = threading.Event()

    # -- reading -----------------------------------------------------------------------------
    def _fetch(self, uow: UnitOfWork, domain: str) -> list[Event]:
        # SKIP LOCKED: while another process of this group works through a batch, this one has
        # nothing to do for that domain (rather than queueing behind it until lock_timeout).
        last = uow.connection.exec_driver_sql(
            "SELECT last_txid, last_id FROM acme_platform.consumer_offsets "
            "WHERE consumer_group = %(g)s AND domain = %(d)s FOR UPDATE SKIP LOCKED",
            {"g": self.group, "d": domain},
        ).first()
        if last is None:
            last = uow.connection.exec_driver_sql(
                "INSERT INTO acme_platform.consumer_offsets (consumer_group, domain, last_txid, last_id) "
                "VALUES (%(g)s, %(d)s, 0, 0) ON CONFLICT DO NOTHING RETURNING last_txid, last_id",
                {"g": self.group, "d": domain},
            ).first()
            if last is None:
                return []  # the row exists and another process holds it
        horizon = self._horizon(uow)
        rows = uow.connection.exec_driver_sql(
            f'SELECT id, txid, topic, key, payload, created_at FROM "{domain}".outbox '
            "WHERE (txid, id) > (%(t)s, %(i)s) AND txid < %(h)s "
            "ORDER BY txid, id LIMIT %(n)s",
            {"t": last.last_txid, "i": last.last_id, "h": horizon, "n": self.batch_size},
        ).all()
        return [Event(r.id, r.txid, r.topic, r.key, r.payload, r.created_at) for r in rows]

    @staticmethod
    def _horizon(uow: UnitOfWork) -> int:
        """The oldest transaction id that may still write to an outbox of *this* database.

        pg_snapshot_xmin would do, but it spans the whole server: a long transaction in another
        database (a CREATE DATABASE, a report) would delay every consumer here. Only backends of this
        database can write our outbox, so we take the least of their running xids, and the snapshot's
        xmax (every xid assigned later is at least that). Computed in its own statement *before* the
        rows are read, so a transaction that finishes in between is visible to the read.
        backend_xid is 32 bits; it is widened to the 64-bit form with the current epoch.
        """
        uow.connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")  # activity is cached per transaction
        return uow.connection.exec_driver_sql(
            """
            WITH now AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax),
            running AS (
                SELECT ((now.xmax & ~4294967295::bigint) | a.backend_xid::text::bigint) AS xid, now.xmax
                FROM pg_stat_activity a, now
                WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL
            )
            SELECT LEAST((SELECT xmax FROM now),
                         (SELECT min(CASE WHEN xid > xmax THEN xid - 4294967296 ELSE xid END) FROM running))
            """
        ).scalar()

    def run_once(self) -> int:
        """Handle every event available now; returns how many were handled (skipped topics excluded)."""
        handled = 0
        for domain in self._domains:
            while True:
                n, more = self._run_batch(domain)
                handled += n
                if not more:
                    break
        return handled

    def _run_batch(self, domain: str) -> tuple[int, bool]:
        handled = 0
        failure: Exception | None = None
        # The offset row is locked for the whole batch: two processes of one group never handle the
        # same event concurrently; the second waits and then continues after the first's offset.
        with self.database.unit_of_work() as uow:
            events = self._fetch(uow, domain)
            for event in events:
                if event.topic in self.topics:
                    # A savepoint per event: a failing handler rolls back only its own writes, the
                    # offset stays just before it, and the events before it are committed.
                    try:
                        with uow.connection.begin_nested():
                            self.handler(uow, event)
                    except Exception as exc:
                        failure = exc
                        break
                    handled += 1
                uow.connection.exec_driver_sql(
                    "UPDATE acme_platform.consumer_offsets SET last_txid = %(t)s, last_id = %(i)s, "
                    "updated_at = now() WHERE consumer_group = %(g)s AND domain = %(d)s",
                    {"t": event.txid, "i": event.id, "g": self.group, "d": domain},
                )
        if failure is not None:
            raise failure
        return handled, len(events) == self.batch_size

    # -- running -----------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_forever(self, listener: ChangeListener | None = None) -> None:
        """Handle events as they come: woken by LISTEN/NOTIFY, polling as a fallback and to catch up
        after a dropped listener connection."""
        if listener is not None:
            for topic in self.topics:
                listener.subscribe(topic, lambda _key: self._wake.set())
            listener.on_reset(self._wake.set)
        while not self._stop.is_set():
            try:
                self.run_once()
            except sa.exc.ProgrammingError as exc:
                # Typically the outbox or offsets table does not exist yet (not migrated): expected
                # while a deploy is in progress, so one line, not a traceback every second.
                log.warning("consumer %s: %s; retrying after %.1fs", self.group,
                            str(exc.orig or exc).splitlines()[0], self.poll_interval)
            except Exception:
                log.exception("consumer %s: batch failed; retrying after %.1fs", self.group, self.poll_interval)
            self._wake.wait(self.poll_interval)
            self._wake.clear()


def consumer_offsets_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "consumer_offsets",
        metadata,
        sa.Column("consumer_group", sa.Text, primary_key=True),
        sa.Column("domain", sa.Text, primary_key=True),
        sa.Column("last_txid", sa.BigInteger, nullable=False),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="acme_platform",
    )
