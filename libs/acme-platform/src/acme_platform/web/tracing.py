"""The OpenTelemetry SDK for a service: off by default, on through the standard OTEL_* variables.

    OTEL_TRACES_EXPORTER=otlp        spans in batches to OTLP over HTTP/protobuf (OTEL_EXPORTER_OTLP_ENDPOINT,
                                     default http://localhost:4318; OTEL_EXPORTER_OTLP_TRACES_* and _HEADERS)
    OTEL_TRACES_EXPORTER=console     every span as JSON on stdout (a developer's terminal)
    OTEL_TRACES_EXPORTER=none        (or unset) no tracing: the API stays the no-op
    OTEL_SDK_DISABLED=true           off whatever the exporter says

The SDK reads the rest itself: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (service.name defaults to
the service's name), OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* (batch size, delay, queue).

Sampling. Without OTEL_TRACES_SAMPLER we sample as `parentbased_traceidratio` at OTEL_TRACES_SAMPLER_ARG,
default 0.1 (DEFAULT_SAMPLE_RATIO), not the SDK's parentbased_always_on: a traced request costs its
worker ~25 % more CPU on place_order (the Python SDK's span bookkeeping and the OTLP encoding of a dozen
spans, measured in bench/README "Observability overhead"), which no service should pay on every request by
default. A request arriving with a sampled `traceparent` is always traced (parent-based), so a trace
started upstream stays whole. `OTEL_TRACES_SAMPLER=parentbased_always_on` traces everything.

    ACME_TRACE_SQL=off               no span per SQL statement (the domain spans still count them in
                                     acme.db.statements): two thirds fewer spans on place_order

When on, the request gets its span from web.request_spans (why not the contrib Flask instrumentation:
see there) and every SQL statement one from web.sql_spans (why not the contrib SQLAlchemy
instrumentation: see there); the domain-call spans between them come from the core
(acme_platform.telemetry). Configured per process (a gunicorn worker builds its app after the
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

# The share of requests without an upstream decision that are traced when OTEL_TRACES_SAMPLER is unset.
DEFAULT_SAMPLE_RATIO = 0.1

_configured_pid: int | None = None


def exporter_names() -> list[str]:
    """The exporters OTEL_TRACES_EXPORTER asks for; [] when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    return [n for n in names if n != "none"]


def enabled() -> bool:
    return bool(exporter_names())


def sql_spans_enabled() -> bool:
    raw = os.environ.get("ACME_TRACE_SQL", "on").strip().lower()
    if raw not in ("on", "off"):
        raise ConfigError("ACME_TRACE_SQL", f"is {raw!r}: use on or off")
    return raw == "on"


def sampler():
    """Our default sampler, or None when OTEL_TRACES_SAMPLER is set (the SDK then reads it and its _ARG)."""
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip():
        return None
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    raw = os.environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    ratio = DEFAULT_SAMPLE_RATIO
    if raw:
        try:
            ratio = float(raw)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError("OTEL_TRACES_SAMPLER_ARG", f"is {raw!r}: a ratio from 0 to 1")
    return ParentBased(TraceIdRatioBased(ratio))


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
    with_sql = sql_spans_enabled()
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over these defaults.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}), sampler=sampler())
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if with_sql:
        sql_spans.install()
    _configured_pid = os.getpid()
    log.info("tracing on", extra={"exporters": names, "sampler": provider.sampler.get_description(),
                                  "sql_spans": with_sql})
    return True


def instrument_app(app: Flask) -> None:
    """The request span of every request to this app (nothing is installed while tracing is off)."""
    if enabled():
        from . import request_spans   # imported only when on: opentelemetry.propagate loads its entry points

        request_spans.install(app)


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
