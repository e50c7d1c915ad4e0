"""The request deadline: a request's statements together may not outlast ACME_REQUEST_DEADLINE_MS.

The per-statement timeout (ACME_DB_STATEMENT_TIMEOUT_MS, set per connection) bounds one statement; a request
of many statements, each just under it, would still hold a worker and a connection for their sum. So each
statement of a request runs with at most the time the request has left: free while more than a whole
statement timeout is left (the connection's default already bounds it), one `SET LOCAL statement_timeout`
round trip per statement once less is left (only requests already running late pay it), and a statement
started after the deadline is not sent at all. Either way the request answers 503 problem+json with
Retry-After and its transaction rolls back (see problems.py).
"""
from __future__ import annotations

import time
from contextvars import ContextVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..db import READS_WITHOUT_TRANSACTION, begin_transaction

# A context variable, not flask.g: the engine's event runs below Flask, and in a gevent worker every
# greenlet (request) has its own context. Outside a request (heartbeats, listener, CLI) it is unset.
_deadline: ContextVar[float | None] = ContextVar("acme_request_deadline", default=None)


class RequestDeadlineExceeded(Exception):
    """The request used up its time budget before sending its next statement."""


def install(app: Flask, engine: Engine, *, deadline_ms: int, statement_timeout_ms: int) -> None:
    if deadline_ms <= 0:
        return

    @app.before_request
    def _start_the_clock():
        _deadline.set(time.monotonic() + deadline_ms / 1000)

    @app.teardown_request
    def _stop_the_clock(exc=None):  # noqa: ARG001
        _deadline.set(None)

    @event.listens_for(engine, "before_cursor_execute")
    def _bound_by_the_deadline(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        deadline = _deadline.get()
        if deadline is None:
            return
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise RequestDeadlineExceeded(f"the request's {deadline_ms} ms deadline passed")
        if statement_timeout_ms == 0 or left_ms < statement_timeout_ms:
            # LOCAL: ends with this transaction, so the pooled connection goes back with its default. A
            # unit of work still reading in autocommit starts its transaction here: SET LOCAL needs one.
            if cursor.connection.autocommit and conn.get_execution_options().get(READS_WITHOUT_TRANSACTION):
                begin_transaction(cursor.connection)
            cursor.connection.execute(f"SET LOCAL statement_timeout = {left_ms}")
