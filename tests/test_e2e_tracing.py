"""Per-domain observability end to end: a real gunicorn storefront with tracing on (OTLP over HTTP to a
receiver in this test), a real place_order, the trace it exports and the /metrics it serves.

The receiver stores the exporter's protobuf bodies as they come; the storefront's own venv (which has
opentelemetry-proto) decodes them, so the spans checked are exactly what a collector would receive.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import build_stack, call, create_product, funded_customer, place_order  # noqa: E402

pytest_plugins = ["e2e_support"]

DOMAIN_SCOPE = "acme_platform.domains"
SQL_SCOPE = "acme_platform.sql"
REQUEST_SCOPE = "acme_platform.web"

DECODE = r"""
import json, sys
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
spans = []
for path in sys.argv[1:]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(open(path, "rb").read())
    for rs in request.resource_spans:
        resource = {a.key: a.value.string_value for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                attrs = {a["key"]: list(a["value"].values())[0] for a in MessageToDict(s).get("attributes", [])}
                spans.append(dict(trace=s.trace_id.hex(), id=s.span_id.hex(), parent=s.parent_span_id.hex(),
                                  name=s.name, kind=s.kind, scope=ss.scope.name, attributes=attrs,
                                  status=s.status.code, service=resource.get("service.name")))
print(json.dumps(spans))
"""


class OtlpReceiver:
    """POST /v1/traces, as an OpenTelemetry collector's OTLP/HTTP receiver: keeps each body, answers 200."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf"
                if ok:
                    with lock:
                        receiver.count += 1
                        (receiver.folder / f"{receiver.count:05d}.pb").write_bytes(body)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self, python: Path) -> list[dict]:
        files = sorted(str(p) for p in self.folder.glob("*.pb"))
        if not files:
            return []
        out = subprocess.run([str(python), "-c", DECODE, *files], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    r = OtlpReceiver(tmp_path_factory.mktemp("otlp"))
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def traced(launcher, make_database, receiver):
    """storefront (tracing on) + backoffice on a database of their own."""
    database = make_database()
    launcher.migrate("backoffice", database)
    # Every request traced: the platform's default samples one in ten.
    tracing = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
               "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    stack = build_stack(launcher, database, fulfillment=False, env={"storefront": tracing})
    yield stack
    launcher.stop([stack.storefront, stack.backoffice])


def metrics(url: str) -> dict[tuple[str, frozenset], float]:
    """The acme_domain_* samples of a /metrics page: {(name, labels): value}."""
    text = call("GET", f"{url}/metrics").text
    found = {}
    for name, labels, value in re.findall(r"^(acme_domain_\w+)\{([^}]*)\} (\S+)$", text, re.M):
        found[(name, frozenset(re.findall(r'(\w+)="([^"]*)"', labels)))] = float(value)
    return found


def sample(page: dict, name: str, **labels) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


def wait_for_spans(receiver: OtlpReceiver, python: Path, done, timeout: float = 30) -> list[dict]:
    """The spans received once done(spans) holds (or the timeout passes: the caller's asserts then say what
    is missing). A child span ends, and so may be exported, a batch before its parent: wait for the whole
    shape a test checks, never only for one span of it."""
    deadline = time.monotonic() + timeout
    while True:
        spans = receiver.spans(python)
        if done(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.3)


def trace_of(spans: list[dict], name: str) -> dict[str, dict] | None:
    """{span id: span} of the trace holding the span called name, once its ancestors up to the root are all
    received; else None."""
    named = [s for s in spans if s["name"] == name]
    if not named:
        return None
    trace = {s["id"]: s for s in spans if s["trace"] == named[0]["trace"]}
    span = named[0]
    while span["parent"]:
        if span["parent"] not in trace:
            return None
        span = trace[span["parent"]]
    return trace


def test_place_order_is_one_span_per_domain_under_the_request_with_sql_below(traced, receiver, launcher):
    customer = funded_customer(traced, 10_000)
    skus = [create_product(traced, price_cents=500, stock=10)["sku"] for _ in range(2)]
    before = metrics(traced.sf)
    r = place_order(traced, customer, [(skus[0], 1), (skus[1], 2)])
    assert r.status_code == 201, r.text
    python = launcher.venv("storefront") / "bin" / "python"
    # The request span ends after the response is sent: it may come in a later export than its children.
    spans = wait_for_spans(receiver, python, lambda spans: trace_of(spans, "orders.place_order") is not None)

    (order,) = [s for s in spans if s["name"] == "orders.place_order"]
    trace = {s["id"]: s for s in spans if s["trace"] == order["trace"]}
    assert order["parent"] in trace, "the request span never arrived"
    request = trace[order["parent"]]
    assert request["scope"] == REQUEST_SCOPE and request["kind"] == 2   # SERVER
    assert request["name"] == "POST /v1/orders" and request["parent"] == ""   # the root
    assert request["attributes"]["http.route"] == "/v1/orders"
    assert int(request["attributes"]["http.response.status_code"]) == 201
    domain_spans = [s for s in trace.values() if s["scope"] == DOMAIN_SCOPE]
    # One span per domain the request calls through its public API: orders from the view, catalog and
    # billing from orders. (identity checks the token through its Authenticator class: not a function.)
    assert sorted(s["name"] for s in domain_spans) == ["billing.charge", "catalog.reserve_many", "orders.place_order"]
    for span in domain_spans:
        assert span["attributes"]["acme.domain"] == span["name"].split(".")[0]
        assert span["parent"] == (request["id"] if span is order else order["id"]), span
        statements = [s for s in trace.values() if s["scope"] == SQL_SCOPE and s["parent"] == span["id"]]
        # Every statement the domain's own code issued is a child span of it, and the count agrees.
        assert statements and len(statements) == int(span["attributes"]["acme.db.statements"]), \
            (span, [(s["name"], s["scope"], s["parent"]) for s in trace.values()])
        assert all(s["kind"] == 3 and s["attributes"]["db.system.name"] == "postgresql" for s in statements)

    after = metrics(traced.sf)
    for domain, function in [("orders", "place_order"), ("catalog", "reserve_many"), ("billing", "charge")]:
        span = next(s for s in domain_spans if s["name"] == f"{domain}.{function}")
        assert sample(after, "acme_domain_calls_total", domain=domain, function=function) == \
            sample(before, "acme_domain_calls_total", domain=domain, function=function) + 1
        assert sample(after, "acme_domain_statements_total", domain=domain, function=function) == \
            sample(before, "acme_domain_statements_total", domain=domain, function=function) \
            + int(span["attributes"]["acme.db.statements"])
        assert sample(after, "acme_domain_call_duration_seconds_count", domain=domain, function=function) == \
            sample(before, "acme_domain_call_duration_seconds_count", domain=domain, function=function) + 1


def test_a_refused_order_counts_the_error_code_and_marks_the_spans(traced, receiver, launcher):
    customer = funded_customer(traced, 10_000)
    sku = create_product(traced, price_cents=100, stock=1)["sku"]
    before = metrics(traced.sf)
    r = place_order(traced, customer, [(sku, 5)])
    assert r.status_code == 409 and r.json()["code"] == "catalog.insufficient_stock", r.text
    after = metrics(traced.sf)
    code = "catalog.insufficient_stock"
    assert sample(after, "acme_domain_errors_total", domain="catalog", function="reserve_many", code=code) == \
        sample(before, "acme_domain_errors_total", domain="catalog", function="reserve_many", code=code) + 1
    assert sample(after, "acme_domain_calls_total", domain="billing", function="charge") == \
        sample(before, "acme_domain_calls_total", domain="billing", function="charge")      # never reached

    def refused(spans):
        return [s for s in spans if s["name"] == "catalog.reserve_many" and s["attributes"].get("acme.error.code") == code]

    failed = refused(wait_for_spans(receiver, launcher.venv("storefront") / "bin" / "python", refused))
    assert failed and failed[0]["status"] == 2   # STATUS_CODE_ERROR


def test_probes_and_the_scrape_are_not_traced(traced, receiver, launcher):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert call("GET", f"{traced.sf}{path}").status_code == 200
    marker = call("GET", f"{traced.sf}/v1/products").status_code
    assert marker == 200
    spans = wait_for_spans(receiver, launcher.venv("storefront") / "bin" / "python",
                           lambda spans: trace_of(spans, "catalog.list_products") is not None)
    names = {s["name"] for s in spans if s["scope"] == REQUEST_SCOPE}
    assert not any(p in n for n in names for p in ("healthz", "readyz", "metrics")), names
    assert any("/v1/products" in n for n in names), names


def test_a_callers_trace_context_is_continued_and_its_sampling_decision_kept(traced, receiver, launcher):
    python = launcher.venv("storefront") / "bin" / "python"
    sampled, dropped = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
    caller = "00f067aa0ba902b7"
    # Not sampled upstream: nothing of that trace is recorded here (the parent-based sampler keeps the caller's
    # decision), though this service traces every request it starts itself.
    assert call("GET", f"{traced.sf}/v1/products", headers={"traceparent": f"00-{dropped}-{caller}-00"}).status_code == 200
    assert call("GET", f"{traced.sf}/v1/products", headers={"traceparent": f"00-{sampled}-{caller}-01"}).status_code == 200
    spans = wait_for_spans(receiver, python, lambda spans: any(
        s["trace"] == sampled and s["name"] == "catalog.list_products" for s in spans)
        and any(s["trace"] == sampled and s["scope"] == REQUEST_SCOPE for s in spans))
    (request,) = [s for s in spans if s["trace"] == sampled and s["scope"] == REQUEST_SCOPE]
    assert request["parent"] == caller and request["name"] == "GET /v1/products", request
    (listing,) = [s for s in spans if s["trace"] == sampled and s["name"] == "catalog.list_products"]
    assert listing["parent"] == request["id"]
    # The dropped request was answered before the sampled one, and its spans would have ended first.
    assert [s for s in spans if s["trace"] == dropped] == []
