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
