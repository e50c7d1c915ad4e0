"""The OpenTelemetry SDK for a service: off by default, on through the standard OTEL_* variables.

    OTEL_TRACES_EXPORTER=otlp        spans in batches to OTLP over HTTP/protobuf (OTEL_EXPORTER_OTLP_ENDPOINT,
                                     default http://localhost:4318; OTEL_EXPORTER_OTLP_TRACES_* and _HEADERS)
    OTEL_TRACES_EXPORTER=console     every span as JSON on stdout (a developer's terminal)
    OTEL_TRACES_EXPORTER=none        (or unset) no tracing: the API stays the no-op
    OTEL_SDK_DISABLED=true           off whatever the exporter says

The SDK reads the rest itself: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (service.name defaults to
the service's name), OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* (batch size, delay, queue).

When on, the request gets its span from opentelemetry-instrumentation-flask and every SQL statement
one from web.sql_spans (why not the contrib SQLAlchemy instrumentation: see there); the domain-call
spans between them come from the core (acme_platform.telemetry). Configured per process (a gunicorn worker builds its app after the
fork, so the batch exporter's thread lives in the worker that fills it).

We set the SDK up here rather than through opentelemetry-distro's auto-configuration: that also
turns on metric and log exporters (default otlp over gRPC, which we do not ship: grpcio under gevent
is its own project) and needs `opentelemetry-instrument` in front of gunicorn.
"""
from __future__ import annotations

import logging
import os

from flask import Flask

from ..errors import ConfigError
from . import sql_spans

log = logging.getLogger(__name__)

# Probes and the scrape are not requests anyone traces; a comma-separated regex list, as the
# instrumentation's own OTEL_PYTHON_FLASK_EXCLUDED_URLS (which wins when set).
EXCLUDED_URLS = "healthz,readyz,metrics"

_configured_pid: int | None = None


def exporter_names() -> list[str]:
    """The exporters OTEL_TRACES_EXPORTER asks for; [] when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    return [n for n in names if n != "none"]


def enabled() -> bool:
    return bool(exporter_names())


def configure_process(service_name: str) -> bool:
    """Install the SDK's tracer provider and the SQL statement spans in this process, once.

    Returns whether tracing is on.
    """
    global _configured_pid
    names = exporter_names()
    if not names:
        return False
    if _configured_pid == os.getpid():
        return True
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [_exporter(name) for name in names]
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over these defaults.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    sql_spans.install()
    _configured_pid = os.getpid()
    log.info("tracing on", extra={"exporters": names})
    return True


def instrument_app(app: Flask) -> None:
    """The request span of every request to this app (a no-op while tracing is off)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor.instrument_app(
        app, excluded_urls=os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS", EXCLUDED_URLS))


def _exporter(name: str):
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name in ("otlp", "otlp_proto_http"):
        protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                    or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
        if protocol != "http/protobuf":
            raise ConfigError("OTEL_EXPORTER_OTLP_PROTOCOL", f"is {protocol!r}: only http/protobuf is installed")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ConfigError("OTEL_TRACES_EXPORTER", f"names {name!r}: use otlp, console or none")
