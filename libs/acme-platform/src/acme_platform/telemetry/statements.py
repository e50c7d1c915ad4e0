"""Counts the SQL statements a domain call issues: one SQLAlchemy listener for every engine.

The count lives in the current domain call (a contextvar, so per greenlet under gevent); a statement
issued outside any domain call counts nowhere. A call into another domain has its own count: the
numbers say which domain's code issued the statements.
"""
from __future__ import annotations

from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine


class CallCounter:
    __slots__ = ("domain", "statements")

    def __init__(self, domain: str):
        self.domain = domain
        self.statements = 0


CURRENT_CALL: ContextVar[CallCounter | None] = ContextVar("acme_domain_call", default=None)


def _count_statement(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
    call = CURRENT_CALL.get()
    if call is not None:
        call.statements += 1


# On the Engine class: every engine, created before or after this import, feeds the counter.
if not event.contains(Engine, "before_cursor_execute", _count_statement):
    event.listen(Engine, "before_cursor_execute", _count_statement)
