"""One observed domain call: an OpenTelemetry span and the Prometheus metrics of metrics.py.

The span is named `<domain>.<function>` ("catalog.reserve_many"), with attributes acme.domain,
acme.function, acme.db.statements and, when the call raises, acme.error.code and status ERROR. It is
opened in the current context, so under a traced Flask request it is a child of the request span,
and the SQL statements the call issues (SQLAlchemy's instrumentation) are its children. Until a
service configures the SDK (acme_platform.web.tracing) the API's tracer is a no-op.

A call from inside a domain into its own public API (a helper going through the package) is part of
the outer call, not a span of its own; a call into another domain's public API is.
"""
from __future__ import annotations

import functools
import inspect
import os
import sys
import time
from typing import Any, Callable

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode

from ..errors import DomainError
from .statements import CURRENT_CALL, CallCounter

_SCOPE = "acme_platform.domains"
_TRACER: trace.Tracer | None = None
_OBSERVED = "__acme_observed__"
UNEXPECTED = "unexpected"


def is_instrumented(fn: Any) -> bool:
    return getattr(fn, _OBSERVED, None) is not None


def instrument_domain(module_name: str, domain: str | None = None) -> list[str]:
    """Replace every function in the package's `__all__` by its observed self (idempotent).

    Called at the end of the domain package's `__init__`, so `from acme_x import f` anywhere gets the
    observed function. Returns the names instrumented by this call.
    """
    module = sys.modules[module_name]
    name = domain or _domain_name(module)
    done = []
    for attr in getattr(module, "__all__", ()):
        value = getattr(module, attr, None)
        # Plain functions only: classes, values and exceptions stay as they are, and a generator's
        # work happens after the call returns, outside any span we could open here.
        if inspect.isfunction(value) and not inspect.isgeneratorfunction(value) and not is_instrumented(value):
            setattr(module, attr, observed(name, attr, value))
            done.append(attr)
    return done


def _domain_name(module) -> str:
    spec = getattr(module, "DOMAIN", None)
    name = getattr(spec, "name", None)
    return name if isinstance(name, str) else module.__name__.rsplit(".", 1)[-1].removeprefix("acme_")


def observed(domain: str, function: str, fn: Callable) -> Callable:
    span_name = f"{domain}.{function}"
    attributes = {"acme.domain": domain, "acme.function": function}
    per_process: dict = {}

    @functools.wraps(fn)
    def call(*args, **kwargs):
        outer = CURRENT_CALL.get()
        if outer is not None and outer.domain == domain:
            return fn(*args, **kwargs)   # the domain calling itself: part of the outer call
        counter = CallCounter(domain)
        token = CURRENT_CALL.set(counter)
        tracer = _tracer()
        span = None
        if tracer is not None and _may_record(trace.get_current_span()):
            # start_span + attach rather than start_as_current_span: the same span and context, without
            # two generator-based context managers per call (measured: bench/wrapper_cost.py).
            span = tracer.start_span(span_name, kind=SpanKind.INTERNAL, attributes=attributes)
            context_token = otel_context.attach(trace.set_span_in_context(span))
        code = None
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            code = exc.code      # an expected business outcome: the code says which, no stack trace
            if span is not None:
                span.set_attribute("acme.error.code", code)
                span.set_status(Status(StatusCode.ERROR, code))
            raise
        except Exception as exc:
            code = UNEXPECTED
            if span is not None:
                span.set_attribute("acme.error.code", code)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            elapsed = time.perf_counter() - started
            CURRENT_CALL.reset(token)
            if span is not None:
                otel_context.detach(context_token)
                span.set_attribute("acme.db.statements", counter.statements)
                span.end()
            recorder = _recorder(per_process, domain, function)
            if recorder is not None:
                recorder.calls.inc()
                recorder.duration.observe(elapsed)
                if counter.statements:
                    recorder.statements.inc(counter.statements)
                if code is not None:
                    recorder.error(code)

    setattr(call, _OBSERVED, fn)
    return call


def _may_record(parent: trace.Span) -> bool:
    """Whether a span started here could be recorded: under a recorded parent, or as a root (the sampler
    decides). Under a parent the sampler left out, the parent-based sampler would drop it: skip making it
    (a sampled-out request then costs the wrapper nothing but this check)."""
    return parent.is_recording() or not parent.get_span_context().is_valid


def _tracer() -> trace.Tracer | None:
    """The SDK's tracer once a provider is configured; None before (the default: tracing off), so an
    untraced call skips the API's no-op span and its context switch altogether."""
    global _TRACER
    if _TRACER is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, ProxyTracerProvider):
            return None
        _TRACER = provider.get_tracer(_SCOPE)
    return _TRACER


def _recorder(per_process: dict, domain: str, function: str):
    """The function's metrics in this process, or None when metrics are off.

    Made at the first call in the process that records (a gunicorn worker). The metrics module is
    imported only then, never when a domain is imported: prometheus_client picks its multiprocess mode
    when it is first imported, and gunicorn's master imports acme_platform (the config) before it sets
    PROMETHEUS_MULTIPROC_DIR.
    """
    pid = os.getpid()
    try:
        return per_process[pid]
    except KeyError:
        from . import metrics

        recorder = per_process[pid] = metrics.FunctionMetrics(domain, function) if metrics.ENABLED else None
        return recorder
