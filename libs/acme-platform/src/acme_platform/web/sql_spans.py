"""A span per SQL statement, as a child of whatever span is current (a domain call, else the request).

Our own hook, not opentelemetry-instrumentation-sqlalchemy: that package (0.66b1, the newest) declares
support for SQLAlchemy < 2.1 and refuses to instrument the 2.1 we run; forcing it past its own check
(skip_dep_check) would run it where its maintainers have not tested it. Three engine events on the
Engine class (every engine) are all it takes. Installed only when tracing is on (web.tracing).

Spans follow the database semantic conventions: named by the operation (SELECT, INSERT, ...), kind CLIENT,
db.system.name, db.namespace, db.operation.name and db.query.text (the statement with its placeholders;
parameter values are never recorded). A statement gets a span only under a recorded span (a sampled
request or domain call). ACME_TRACE_SQL=off leaves this hook out (web.tracing).
"""
from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import Engine

_TRACER = trace.get_tracer("acme_platform.sql")
_SPAN = "_acme_sql_span"


def install() -> None:
    if event.contains(Engine, "before_cursor_execute", _before):
        return
    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _failed)


def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
    # Only under a span that is recorded: a statement of a request the sampler left out would be dropped
    # by the parent-based sampler anyway (this skips building it), and one outside any request or domain
    # call (the registry's heartbeat, the listener) is not a trace anyone reads.
    if context is None or not trace.get_current_span().is_recording():
        return
    words = statement.split(None, 1)
    operation = words[0].upper() if words else "SQL"
    span = _TRACER.start_span(operation, kind=SpanKind.CLIENT, attributes={
        "db.system.name": conn.dialect.name,
        "db.namespace": conn.engine.url.database or "",
        "db.operation.name": operation,
        "db.query.text": statement,
    })
    setattr(context, _SPAN, span)


def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
    span = getattr(context, _SPAN, None)
    if span is not None:
        setattr(context, _SPAN, None)
        span.end()


def _failed(exception_context) -> None:
    context = exception_context.execution_context
    span = getattr(context, _SPAN, None) if context is not None else None
    if span is not None:
        setattr(context, _SPAN, None)
        error = exception_context.original_exception
        span.set_attribute("error.type", type(error).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
        span.end()
