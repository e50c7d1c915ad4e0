"""Which OTEL_* settings turn tracing on (acme_platform.web.tracing), without installing anything."""
import pytest

from acme_platform.errors import ConfigError
from acme_platform.web import tracing


@pytest.mark.parametrize("env, names", [
    ({}, []),
    ({"OTEL_TRACES_EXPORTER": "none"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": " OTLP , console"}, ["otlp", "console"]),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
    ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "false"}, ["console"]),
])
def test_exporters_from_the_environment(monkeypatch, env, names):
    for var in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert tracing.exporter_names() == names
    assert tracing.enabled() is bool(names)


def test_off_configures_nothing(monkeypatch):
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert tracing.configure_process("svc") is False


def test_an_unknown_exporter_names_the_variable(monkeypatch):
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER names 'jaeger'"):
        tracing._exporter("jaeger")


def test_grpc_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tracing._exporter("otlp")


def test_otlp_is_the_http_exporter(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    exporter = tracing._exporter("otlp")
    assert type(exporter).__module__ == "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    exporter.shutdown()


def _clear(monkeypatch):
    for var in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "ACME_TRACE_SQL"):
        monkeypatch.delenv(var, raising=False)


def test_the_default_sampler_is_parent_based_at_a_tenth(monkeypatch):
    _clear(monkeypatch)
    sampler = tracing.sampler()
    assert sampler.get_description() == "ParentBased{root:TraceIdRatioBased{0.1},remoteParentSampled:AlwaysOnSampler," \
        "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"


def test_the_sampler_arg_sets_our_default_ratio(monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    assert "TraceIdRatioBased{0.5}" in tracing.sampler().get_description()


def test_a_sampler_named_in_the_environment_is_the_sdks_to_read(monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    assert tracing.sampler() is None


@pytest.mark.parametrize("raw", ["half", "1.5", "-0.1"])
def test_a_bad_ratio_names_the_variable(monkeypatch, raw):
    _clear(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", raw)
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER_ARG"):
        tracing.sampler()


@pytest.mark.parametrize("raw, on", [(None, True), ("on", True), ("OFF", False), (" off ", False)])
def test_sql_spans_switch(monkeypatch, raw, on):
    _clear(monkeypatch)
    if raw is not None:
        monkeypatch.setenv("ACME_TRACE_SQL", raw)
    assert tracing.sql_spans_enabled() is on


def test_a_bad_sql_spans_switch_names_the_variable(monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("ACME_TRACE_SQL", "sometimes")
    with pytest.raises(ConfigError, match="ACME_TRACE_SQL"):
        tracing.sql_spans_enabled()
