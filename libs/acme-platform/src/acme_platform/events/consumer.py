"""Consumer groups over the domain outboxes: at-least-once, in transaction order, no skipped rows.

Why (txid, id) and the horizon: outbox ids are allocated when a row is inserted, not when its
transaction commits, so id 11 can become visible before id 10. Reading "id > last seen" would skip
10 forever. Instead we read only rows written by transactions older than the oldest one still
running in this database (see _horizon): no such row can appear later. We order by (txid, id) and remember the
last pair per group and domain.

Each event is handled in its own unit of work together with the offset update, so for handlers that
only write to the database the effect is exactly once; for anything else the event id lets the
handler be idempotent (delivery is at least once).

A handler that raises is retried with backoff (the batch stops at it; the pause doubles from
ACME_EVENTS_RETRY_BACKOFF) up to ACME_EVENTS_MAX_ATTEMPTS tries in all; then the event is copied to
acme_platform.dead_letters with its error and attempt count and the group moves past it. The retry
state lives in the group's offset row (locked for the batch), so every process of the group counts
the same attempts. Ordering per key: later events with the same key are NOT parked behind a dead
letter. A poison event is usually one the handler can never take (a malformed payload); parking its
key would stall that entity until an operator acts, and our handlers judge each event against the
entity's current state (a late replay of an order_placed for an order that was cancelled meanwhile is
a no-op), so delivering later events first is safe for them. A handler for which it is not must check
acme_platform.dead_letters for its key itself.

An operator's `acmectl events replay` marks a dead letter `replay`; the group's next run hands it to
the handler again (with the payload the operator may have corrected): `replayed` on success, back to
`dead` with the new error otherwise.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

import sqlalchemy as sa

from ..db import Database, connection_lost
from ..uow import UnitOfWork
from .lag import group_lag
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
        max_attempts: int | None = None,
        retry_backoff: float | None = None,
        retry_backoff_max: float | None = None,
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
        settings = database.settings
        self.max_attempts = max_attempts if max_attempts is not None else settings.events_max_attempts
        self.retry_backoff = retry_backoff if retry_backoff is not None else settings.events_retry_backoff
        self.retry_backoff_max = (retry_backoff_max if retry_backoff_max is not None
                                  else settings.events_retry_backoff_max)
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._retry_at: float | None = None     # monotonic time of the next retry this process scheduled
        self._lag_measured_at = 0.0

    # -- reading -----------------------------------------------------------------------------
    def _fetch(self, uow: UnitOfWork, domain: str) -> tuple[list[Event], sa.Row | None]:
        # SKIP LOCKED: while another process of this group works through a batch, this one has
        # nothing to do for that domain (rather than queueing behind it until lock_timeout).
        last = uow.connection.exec_driver_sql(
            "SELECT last_txid, last_id, failing_txid, failing_id, attempts, "
            "extract(epoch FROM retry_after - now()) AS retry_in "
            "FROM acme_platform.consumer_offsets "
            "WHERE consumer_group = %(g)s AND domain = %(d)s FOR UPDATE SKIP LOCKED",
            {"g": self.group, "d": domain},
        ).first()
        if last is None:
            last = uow.connection.exec_driver_sql(
                "INSERT INTO acme_platform.consumer_offsets (consumer_group, domain, last_txid, last_id) "
                "VALUES (%(g)s, %(d)s, 0, 0) ON CONFLICT DO NOTHING "
                "RETURNING last_txid, last_id, failing_txid, failing_id, attempts, NULL::float AS retry_in",
                {"g": self.group, "d": domain},
            ).first()
            if last is None:
                return [], None  # the row exists and another process holds it
        if last.failing_id is not None and last.retry_in is not None and last.retry_in > 0:
            # Backing off from a failed event (maybe another process of the group counted it).
            self._schedule_retry(float(last.retry_in))
            return [], last
        horizon = self._horizon(uow)
        rows = uow.connection.exec_driver_sql(
            f'SELECT id, txid, topic, key, payload, created_at FROM "{domain}".outbox '
            "WHERE (txid, id) > (%(t)s, %(i)s) AND txid < %(h)s "
            "ORDER BY txid, id LIMIT %(n)s",
            {"t": last.last_txid, "i": last.last_id, "h": horizon, "n": self.batch_size},
        ).all()
        return [Event(r.id, r.txid, r.topic, r.key, r.payload, r.created_at) for r in rows], last

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
        handled = self._run_replays()
        for domain in self._domains:
            while True:
                n, more = self._run_batch(domain)
                handled += n
                if not more:
                    break
        self._measure_lag()
        return handled

    def _run_batch(self, domain: str) -> tuple[int, bool]:
        handled = 0
        stopped = False
        after_commit: list[Callable[[], None]] = []
        # The offset row is locked for the whole batch: two processes of one group never handle the
        # same event concurrently; the second skips it and continues after the first's offset.
        with self.database.unit_of_work() as uow:
            events, state = self._fetch(uow, domain)
            for event in events:
                if event.topic in self.topics:
                    # A savepoint per event: a failing handler rolls back only its own writes, the
                    # offset stays just before it, and the events before it are committed.
                    try:
                        with uow.connection.begin_nested():
                            self.handler(uow, event)
                    except Exception as exc:   # a failing handler is retried, then dead-lettered
                        if connection_lost(exc):
                            # Not the event's fault: the database went away under the handler (a failover).
                            # The batch rolls back with its offset; run_forever retries it on a new connection.
                            raise
                        same = state is not None and (state.failing_txid, state.failing_id) == (event.txid, event.id)
                        attempts = (int(state.attempts or 0) if same else 0) + 1
                        error = _one_line(exc)
                        if attempts < self.max_attempts:
                            delay = self._backoff(attempts)
                            self._record_retry(uow, domain, event, attempts, delay, error)
                            after_commit.append(lambda a=attempts, d=delay, e=error, ev=event: self._retrying(ev, a, d, e))
                            stopped = True
                            break
                        self._dead_letter(uow, domain, event, attempts, error)
                        after_commit.append(lambda a=attempts, e=error, ev=event: self._given_up(ev, a, e))
                    else:
                        handled += 1
                uow.connection.exec_driver_sql(
                    "UPDATE acme_platform.consumer_offsets SET last_txid = %(t)s, last_id = %(i)s, "
                    "failing_txid = NULL, failing_id = NULL, attempts = NULL, retry_after = NULL, "
                    "last_error = NULL, updated_at = now() WHERE consumer_group = %(g)s AND domain = %(d)s",
                    {"t": event.txid, "i": event.id, "g": self.group, "d": domain},
                )
        for callback in after_commit:
            callback()
        return handled, not stopped and len(events) == self.batch_size

    # -- retries and dead letters ------------------------------------------------------------
    def _backoff(self, attempts: int) -> float:
        return min(self.retry_backoff * 2 ** (attempts - 1), self.retry_backoff_max)

    def _schedule_retry(self, delay: float) -> None:
        at = time.monotonic() + max(delay, 0.0)
        self._retry_at = at if self._retry_at is None else min(self._retry_at, at)

    def _record_retry(self, uow: UnitOfWork, domain: str, event: Event, attempts: int, delay: float,
                      error: str) -> None:
        uow.connection.exec_driver_sql(
            "UPDATE acme_platform.consumer_offsets SET failing_txid = %(t)s, failing_id = %(i)s, "
            "attempts = %(a)s, retry_after = now() + make_interval(secs => %(s)s), last_error = %(e)s, "
            "updated_at = now() WHERE consumer_group = %(g)s AND domain = %(d)s",
            {"t": event.txid, "i": event.id, "a": attempts, "s": delay, "e": error, "g": self.group, "d": domain},
        )

    def _retrying(self, event: Event, attempts: int, delay: float, error: str) -> None:
        self._schedule_retry(delay)
        _metrics().RETRIES.labels(self.group).inc()
        log.warning("consumer %s: event %s (%s) failed (attempt %d of %d), retrying in %.1fs: %s", self.group,
                    event.event_id, event.topic, attempts, self.max_attempts, delay, error)

    def _dead_letter(self, uow: UnitOfWork, domain: str, event: Event, attempts: int, error: str) -> None:
        uow.connection.exec_driver_sql(
            "INSERT INTO acme_platform.dead_letters (consumer_group, domain, event_id, txid, topic, key, payload, "
            "created_at, error, attempts) VALUES (%(g)s, %(d)s, %(i)s, %(t)s, %(topic)s, %(k)s, %(p)s::jsonb, "
            "%(c)s, %(e)s, %(a)s) ON CONFLICT (consumer_group, domain, event_id) DO UPDATE SET "
            "error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts, status = 'dead', "
            "updated_at = now()",
            {"g": self.group, "d": domain, "i": event.id, "t": event.txid, "topic": event.topic, "k": event.key,
             "p": _json(event.payload), "c": event.created_at, "e": error, "a": attempts},
        )

    def _given_up(self, event: Event, attempts: int, error: str) -> None:
        _metrics().DEAD_LETTERS.labels(self.group).inc()
        log.error("consumer %s: event %s (%s) failed %d time(s); moved to acme_platform.dead_letters: %s",
                  self.group, event.event_id, event.topic, attempts, error)

    def _run_replays(self) -> int:
        """Hand the dead letters an operator asked to replay to the handler again."""
        replayed = 0
        outcomes: list[tuple[str, str, int, str]] = []
        with self.database.unit_of_work() as uow:
            rows = uow.connection.exec_driver_sql(
                "SELECT id, domain, event_id, txid, topic, key, payload, created_at FROM acme_platform.dead_letters "
                "WHERE consumer_group = %(g)s AND status = 'replay' AND topic = ANY(%(topics)s) "
                "ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED",
                {"g": self.group, "topics": self.topics, "n": self.batch_size},
            ).all()
            for row in rows:
                event = Event(row.event_id, row.txid, row.topic, row.key, row.payload, row.created_at)
                try:
                    with uow.connection.begin_nested():
                        self.handler(uow, event)
                except Exception as exc:   # a failing handler is dead-lettered
                    if connection_lost(exc):
                        raise   # as in _run_batch: the replay waits for the database, it did not fail
                    error = _one_line(exc)
                    uow.connection.exec_driver_sql(
                        "UPDATE acme_platform.dead_letters SET status = 'dead', error = %(e)s, "
                        "attempts = attempts + 1, updated_at = now() WHERE id = %(id)s", {"e": error, "id": row.id})
                    outcomes.append(("failed", event.event_id, row.id, error))
                else:
                    uow.connection.exec_driver_sql(
                        "UPDATE acme_platform.dead_letters SET status = 'replayed', updated_at = now() "
                        "WHERE id = %(id)s", {"id": row.id})
                    outcomes.append(("replayed", event.event_id, row.id, ""))
                    replayed += 1
        for outcome, event_id, dead_letter, error in outcomes:
            _metrics().REPLAYED.labels(self.group, outcome).inc()
            if outcome == "replayed":
                log.info("consumer %s: dead letter %d (event %s) replayed", self.group, dead_letter, event_id)
            else:
                log.warning("consumer %s: replay of dead letter %d (event %s) failed: %s", self.group,
                            dead_letter, event_id, error)
        return replayed

    def _measure_lag(self) -> None:
        # At most once per poll interval: run_once also runs on every wake-up.
        now = time.monotonic()
        if now - self._lag_measured_at < self.poll_interval:
            return
        self._lag_measured_at = now
        with self.database.engine.connect() as conn:
            for lag in group_lag(conn, self.group, self._domains):
                _metrics().LAG_EVENTS.labels(self.group, lag.domain).set(lag.events)
                _metrics().LAG_SECONDS.labels(self.group, lag.domain).set(lag.seconds)

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
        failures = 0    # batches in a row that failed for the database's sake
        while not self._stop.is_set():
            wait = None
            try:
                self.run_once()
                failures = 0
            except sa.exc.ProgrammingError as exc:
                # Typically the outbox or offsets table does not exist yet (not migrated): expected
                # while a deploy is in progress, so one line, not a traceback every second.
                log.warning("consumer %s: %s; retrying after %.1fs", self.group,
                            str(exc.orig or exc).splitlines()[0], self.poll_interval)
            except Exception as exc:
                if connection_lost(exc):
                    # The database is unreachable or this node is no longer the primary (a failover): the
                    # batch rolled back with its offset, so the next one starts where the last commit left
                    # off, on whichever node answers. One line per try, with bounded backoff.
                    failures += 1
                    wait = self.reconnect_delay(failures)
                    log.warning("consumer %s: database unavailable (%s); retrying in %.1fs", self.group,
                                _one_line(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc), wait)
                else:
                    # Not a handler failure (those are retried and dead-lettered above), not a lost
                    # database: something unexpected. Nothing can be skipped for it; retry.
                    log.exception("consumer %s: batch failed; retrying after %.1fs", self.group,
                                  self.poll_interval)
            self._wake.wait(self._next_wait() if wait is None else wait)
            self._wake.clear()

    def reconnect_delay(self, failures: int) -> float:
        """The pause after `failures` failed batches in a row: doubling from a tenth of the poll interval,
        never more than the poll interval (a consumer that is back finds work within one poll)."""
        return min(self.poll_interval / 10 * 2 ** max(failures - 1, 0), self.poll_interval)

    def _next_wait(self) -> float:
        wait = self.poll_interval
        if self._retry_at is not None:
            wait = min(wait, max(self._retry_at - time.monotonic(), 0.0))
            self._retry_at = None
        return wait


def _metrics():
    # Imported on first use, not with acme_platform: gunicorn.conf.py imports acme_platform in the master
    # before gunicorn_conf sets PROMETHEUS_MULTIPROC_DIR, and prometheus_client fixes its mode (one
    # process or many) when it is first imported. Imported there, every worker would count alone.
    from . import metrics

    return metrics


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:1000]


def _json(payload) -> str:
    import json

    return json.dumps(payload, separators=(",", ":"), default=str)


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
