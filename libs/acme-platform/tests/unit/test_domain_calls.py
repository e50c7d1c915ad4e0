"""The observed domain call (acme_platform.telemetry): spans, metrics and statement counts.

A planted domain package (tmp_path) is instrumented the way a real one is, its functions issue real
SQL on SQLite, and the spans go to the SDK's in-memory exporter.
"""
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import REGISTRY

from acme_platform.telemetry import instrument_domain, is_instrumented

PLANTED = '''
import sqlalchemy as sa
from acme_platform import NotFound

ENGINE = sa.create_engine("sqlite://")


class ThingNotFound(NotFound):
    code = "{name}.thing_not_found"


class Thing:
    pass


def _statements(n):
    with ENGINE.connect() as conn:
        for _ in range(n):
            conn.execute(sa.text("SELECT 1"))


def fetch(n, fail=False):
    _statements(n)
    if fail:
        raise ThingNotFound("no such thing")
    return n


def crash():
    _statements(1)
    raise ZeroDivisionError("boom")


def outer(n):
    _statements(1)
    return fetch(n)          # its own public name through the package: part of this call


def through_package(n):
    import acme_{name}
    _statements(1)
    return acme_{name}.fetch(n)


def across(other, n):
    import importlib
    _statements(1)
    return importlib.import_module(other).fetch(n)


def helper():
    return "not public"


__all__ = ["fetch", "crash", "outer", "through_package", "across", "Thing", "ThingNotFound", "LIMIT"]
LIMIT = 3
instrument_domain_result = None
'''

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracer_provider():
    # The global provider can be set once per process; the domain tracer is the API's proxy, so it
    # starts recording from here on (the "off" case runs in a fresh process below).
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    yield provider


@pytest.fixture
def plant(tmp_path, monkeypatch):
    made = []

    def make(name: str):
        pkg = tmp_path / f"acme_{name}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(PLANTED.format(name=name)
                                         + "from acme_platform import instrument_domain\n"
                                         + "instrument_domain_result = instrument_domain(__name__)\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        import importlib

        importlib.invalidate_caches()
        made.append(name)
        return importlib.import_module(f"acme_{name}")

    yield make
    for name in made:
        sys.modules.pop(f"acme_{name}", None)


@pytest.fixture(autouse=True)
def clear_spans():
    EXPORTER.clear()


def domain_spans():
    # (SQL statement spans join them once a test below installs web.sql_spans)
    return [s for s in EXPORTER.get_finished_spans() if s.instrumentation_scope.name == "acme_platform.domains"]


def sample(metric, **labels):
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def test_functions_in_all_are_instrumented_and_nothing_else(plant):
    dom = plant("plantone")
    assert sorted(dom.instrument_domain_result) == ["across", "crash", "fetch", "outer", "through_package"]
    assert is_instrumented(dom.fetch)
    assert not is_instrumented(dom.helper)          # public-looking, but not in __all__
    assert isinstance(dom.Thing, type) and not is_instrumented(dom.Thing)
    assert dom.LIMIT == 3
    assert dom.fetch.__name__ == "fetch" and dom.fetch.__wrapped__ is not None


def test_instrumenting_twice_changes_nothing(plant):
    dom = plant("planttwice")
    first = dom.fetch
    assert instrument_domain("acme_planttwice") == []
    assert dom.fetch is first


def test_from_import_gets_the_observed_function(plant):
    plant("plantfrom")
    from acme_plantfrom import fetch  # what a service module does at its top

    assert is_instrumented(fetch)
    fetch(1)
    assert [s.name for s in domain_spans()] == ["plantfrom.fetch"]


def test_a_call_is_a_span_with_metrics_and_statement_count(plant):
    dom = plant("plantcall")
    before_calls = sample("acme_domain_calls_total", domain="plantcall", function="fetch")
    before_statements = sample("acme_domain_statements_total", domain="plantcall", function="fetch")
    before_latency = sample("acme_domain_call_duration_seconds_count", domain="plantcall", function="fetch")
    assert dom.fetch(3) == 3
    (span,) = domain_spans()
    assert span.name == "plantcall.fetch"
    assert span.attributes["acme.domain"] == "plantcall"
    assert span.attributes["acme.function"] == "fetch"
    assert span.attributes["acme.db.statements"] == 3
    assert span.status.status_code == StatusCode.UNSET
    assert sample("acme_domain_calls_total", domain="plantcall", function="fetch") == before_calls + 1
    assert sample("acme_domain_statements_total", domain="plantcall", function="fetch") == before_statements + 3
    assert sample("acme_domain_call_duration_seconds_count", domain="plantcall",
                  function="fetch") == before_latency + 1


def test_domain_error_counts_by_code_and_marks_the_span(plant):
    dom = plant("planterr")
    with pytest.raises(dom.ThingNotFound):
        dom.fetch(2, fail=True)
    (span,) = domain_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["acme.error.code"] == "planterr.thing_not_found"
    assert span.attributes["acme.db.statements"] == 2
    assert not span.events                       # an expected outcome: no stack trace recorded
    assert sample("acme_domain_errors_total", domain="planterr", function="fetch",
                  code="planterr.thing_not_found") == 1
    assert sample("acme_domain_calls_total", domain="planterr", function="fetch") == 1


def test_unexpected_exception_is_recorded_as_unexpected(plant):
    dom = plant("plantcrash")
    with pytest.raises(ZeroDivisionError):
        dom.crash()
    (span,) = domain_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["acme.error.code"] == "unexpected"
    assert [e.name for e in span.events] == ["exception"]
    assert sample("acme_domain_errors_total", domain="plantcrash", function="crash", code="unexpected") == 1


def test_calls_inside_a_domain_are_not_spans_of_their_own(plant):
    dom = plant("plantinner")
    assert dom.outer(2) == 2 and dom.through_package(2) == 2
    spans = domain_spans()
    assert [s.name for s in spans] == ["plantinner.outer", "plantinner.through_package"]
    # ... and their statements count for the outer call
    assert [s.attributes["acme.db.statements"] for s in spans] == [3, 3]
    assert sample("acme_domain_calls_total", domain="plantinner", function="fetch") == 0


def test_a_call_into_another_domain_is_a_child_span_counting_its_own_statements(plant):
    first = plant("plantleft")
    plant("plantright")
    assert first.across("acme_plantright", 4) == 4
    inner, outer = domain_spans()
    assert (outer.name, inner.name) == ("plantleft.across", "plantright.fetch")
    assert inner.parent.span_id == outer.context.span_id
    assert (outer.attributes["acme.db.statements"], inner.attributes["acme.db.statements"]) == (1, 4)
    assert sample("acme_domain_statements_total", domain="plantright", function="fetch") == 4
    assert sample("acme_domain_statements_total", domain="plantleft", function="across") == 1


def test_sql_outside_a_domain_call_counts_nowhere(plant):
    plant("plantquiet")
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert sample("acme_domain_statements_total", domain="plantquiet", function="fetch") == 0


def test_nothing_is_recorded_when_off(tmp_path):
    # A fresh process: no tracer provider configured (the service default) and ACME_DOMAIN_METRICS=off.
    pkg = tmp_path / "acme_plantoff"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(PLANTED.format(name="plantoff") + textwrap.dedent("""
        from opentelemetry import trace

        def seen():
            return trace.get_current_span().is_recording()

        __all__.append("seen")
        from acme_platform import instrument_domain
        instrument_domain(__name__)
    """))
    script = textwrap.dedent("""
        import acme_plantoff
        from prometheus_client import REGISTRY
        from acme_platform.telemetry import is_instrumented
        assert is_instrumented(acme_plantoff.seen)
        acme_plantoff.fetch(2)
        print(acme_plantoff.seen(), REGISTRY.get_sample_value("acme_domain_calls_total",
              {"domain": "plantoff", "function": "fetch"}))
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "ACME_DOMAIN_METRICS": "off"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "None"]
    env["ACME_DOMAIN_METRICS"] = "on"   # the same process shape with metrics on does count: the check can fail
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "1.0"]


def test_importing_the_platform_and_a_domain_leaves_prometheus_client_unimported(tmp_path):
    # gunicorn's master imports acme_platform (gunicorn.conf.py) before it sets PROMETHEUS_MULTIPROC_DIR,
    # and prometheus_client fixes its multiprocess mode when first imported: had the domain metrics been
    # made at import, every worker would count in its own memory and /metrics would serve nothing.
    pkg = tmp_path / "acme_plantimport"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(PLANTED.format(name="plantimport")
                                     + "from acme_platform import instrument_domain\ninstrument_domain(__name__)\n")
    script = ("import sys, acme_platform, acme_platform.gunicorn_conf, acme_plantimport\n"
              "print('prometheus_client' in sys.modules)\n"
              "acme_plantimport.fetch(1)\n"
              "print('prometheus_client' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]   # imported by the first call, in the worker


def test_sql_statements_are_child_spans_of_the_domain_call(plant):
    from acme_platform.web import sql_spans

    sql_spans.install()
    sql_spans.install()   # once per process, whoever asks again
    dom = plant("plantsql")
    dom.fetch(2)
    spans = EXPORTER.get_finished_spans()
    call = next(s for s in spans if s.name == "plantsql.fetch")
    sql = [s for s in spans if s.instrumentation_scope.name == "acme_platform.sql"]
    assert [s.name for s in sql] == ["SELECT", "SELECT"]
    assert all(s.parent.span_id == call.context.span_id for s in sql)
    assert sql[0].attributes["db.query.text"] == "SELECT 1" and sql[0].attributes["db.system.name"] == "sqlite"
    assert sql[0].kind.name == "CLIENT"


def test_a_failing_statement_ends_its_span_as_an_error(plant):
    from acme_platform.web import sql_spans

    sql_spans.install()
    engine = sa.create_engine("sqlite://")
    with trace.get_tracer("test").start_as_current_span("request"):
        with engine.connect() as conn, pytest.raises(sa.exc.OperationalError):
            conn.execute(sa.text("SELECT * FROM no_such_table"))
    (span,) = [s for s in EXPORTER.get_finished_spans() if s.instrumentation_scope.name == "acme_platform.sql"]
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "OperationalError"


def test_a_statement_outside_any_span_is_not_a_span_of_its_own(plant):
    # The registry's heartbeat, the listener: a root span per statement would be noise nobody reads.
    from acme_platform.web import sql_spans

    sql_spans.install()
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert [s for s in EXPORTER.get_finished_spans() if s.instrumentation_scope.name == "acme_platform.sql"] == []
    with trace.get_tracer("test").start_as_current_span("request"), engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))   # the same statement under a recorded span is one
    assert len([s for s in EXPORTER.get_finished_spans() if s.instrumentation_scope.name == "acme_platform.sql"]) == 1


def _sampled_out_request():
    """The current span of a request the sampler left out: valid, not recording."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    context = SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=True, trace_flags=TraceFlags(0))
    return trace.use_span(NonRecordingSpan(context))


def test_a_request_the_sampler_left_out_makes_no_span_but_still_counts(plant):
    from acme_platform.web import sql_spans

    sql_spans.install()
    dom = plant("plantsampled")
    before = sample("acme_domain_calls_total", domain="plantsampled", function="outer")
    with _sampled_out_request():
        assert dom.across("acme_plantsampled", 2) == 2 and dom.outer(1) == 1
    assert EXPORTER.get_finished_spans() == ()      # no domain span, no SQL span, no orphan root
    assert sample("acme_domain_calls_total", domain="plantsampled", function="outer") == before + 1
    assert sample("acme_domain_statements_total", domain="plantsampled", function="outer") >= 2
    dom.outer(1)                                      # and without a parent it is a root span again
    assert [s.name for s in domain_spans()] == ["plantsampled.outer"]
