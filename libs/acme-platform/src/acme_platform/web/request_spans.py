"""The request span: one SERVER span per traced request, the parent of its domain-call and SQL spans.

Our own three Flask hooks rather than opentelemetry-instrumentation-flask. The contrib instrumentation
did its work on every request whether or not the sampler kept it: it collected the WSGI attributes twice,
fed its HTTP metrics instruments, matched the excluded-URL regexes twice and attached a sqlcommenter
context. With one request in ten sampled (web.tracing's default) that fixed part was ~5 % of a
place_order's CPU in the worker (py-spy, bench/README "Observability overhead"), more than the traced
tenth cost. Here a request the sampler leaves out costs one propagator extract, the sampler's decision
and a non-recording span; attributes are set only on a span that records.

Follows the HTTP server semantic conventions: named `{method} {route}` (`POST /v1/orders`; the method
alone when no route matched), kind SERVER, http.request.method, http.route, url.path, url.scheme,
http.response.status_code, and status ERROR with error.type for a 5xx. A `traceparent` (W3C trace
context, or whatever OTEL_PROPAGATORS names) from the caller is the parent, so a trace started upstream
continues here and keeps its sampling decision.
"""
from __future__ import annotations

from flask import Flask, Response, g, request
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

# Probes and the scrape are not requests anyone traces.
NOT_TRACED = frozenset({"/healthz", "/readyz", "/metrics"})

_TRACER = trace.get_tracer("acme_platform.web")
_SPAN = "_acme_request_span"
_TOKEN = "_acme_request_span_token"


def install(app: Flask) -> None:
    @app.before_request
    def _open_request_span():
        rule = request.url_rule.rule if request.url_rule is not None else None
        if rule in NOT_TRACED:
            return
        parent = propagate.extract(request.headers)
        span = _TRACER.start_span(f"{request.method} {rule}" if rule else request.method,
                                  context=parent, kind=SpanKind.SERVER)
        if span.is_recording():
            span.set_attributes({"http.request.method": request.method, "url.path": request.path,
                                 "url.scheme": request.scheme, **({"http.route": rule} if rule else {})})
        setattr(g, _SPAN, span)
        setattr(g, _TOKEN, otel_context.attach(trace.set_span_in_context(span, parent)))

    @app.after_request
    def _record_status(response: Response) -> Response:
        span = g.get(_SPAN)
        if span is not None and span.is_recording():
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
        return response

    @app.teardown_request
    def _close_request_span(exc: BaseException | None) -> None:
        span = g.pop(_SPAN, None)
        if span is None:
            return
        otel_context.detach(g.pop(_TOKEN))
        if exc is not None and span.is_recording():
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
        span.end()
