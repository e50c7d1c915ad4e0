"""The request span (acme_platform.web.request_spans) on a plain Flask app, spans to the SDK's in-memory exporter."""
import pytest
from flask import Flask, Response
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import ProxyTracerProvider, SpanKind, StatusCode

from acme_platform.web import request_spans

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def client():
    # The global provider can be set once per process: reuse one an earlier module set, adding our exporter.
    if isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        trace.set_tracer_provider(TracerProvider())
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(EXPORTER))
    app = Flask(__name__)

    @app.get("/items/<int:item>")
    def item(item):
        inner = trace.get_current_span()
        return {"item": item, "span": format(inner.get_span_context().span_id, "016x")}

    @app.get("/broken")
    def broken():
        return Response("no", status=503)

    @app.get("/healthz")
    def healthz():
        return "ok"

    request_spans.install(app)
    return app.test_client()


@pytest.fixture(autouse=True)
def clear():
    EXPORTER.clear()


def request_spans_recorded():
    return [s for s in EXPORTER.get_finished_spans() if s.instrumentation_scope.name == "acme_platform.web"]


def test_a_request_is_one_server_span_named_by_its_route_and_current_in_the_view(client):
    body = client.get("/items/7").get_json()
    (span,) = request_spans_recorded()
    assert span.name == "GET /items/<int:item>" and span.kind == SpanKind.SERVER and span.parent is None
    assert dict(span.attributes) == {"http.request.method": "GET", "url.path": "/items/7", "url.scheme": "http",
                                     "http.route": "/items/<int:item>", "http.response.status_code": 200}
    assert body["span"] == format(span.context.span_id, "016x")   # the view ran inside it
    assert span.status.status_code == StatusCode.UNSET
    assert trace.get_current_span() is trace.INVALID_SPAN        # detached after the request


def test_a_5xx_marks_the_span_as_an_error(client):
    client.get("/broken")
    (span,) = request_spans_recorded()
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "503"


def test_an_unmatched_path_is_named_by_its_method(client):
    client.get("/nowhere")
    (span,) = request_spans_recorded()
    assert span.name == "GET" and span.attributes["http.response.status_code"] == 404
    assert "http.route" not in span.attributes


def test_probes_are_not_traced(client):
    client.get("/healthz")
    assert request_spans_recorded() == []


def test_the_callers_trace_context_is_the_parent_and_its_decision_is_kept(client):
    trace_id, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    client.get("/items/1", headers={"traceparent": f"00-{trace_id}-{caller}-01"})
    (span,) = request_spans_recorded()
    assert format(span.context.trace_id, "032x") == trace_id and format(span.parent.span_id, "016x") == caller
    EXPORTER.clear()
    body = client.get("/items/1", headers={"traceparent": f"00-{trace_id}-{caller}-00"}).get_json()
    assert request_spans_recorded() == []                       # not sampled upstream: not recorded here
    assert body["span"] != "0000000000000000"                   # yet the view saw the caller's context
