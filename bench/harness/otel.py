"""BENCH_OTEL: run L with per-domain observability switched on or off, to measure what it costs.

    (unset)     L as deployed: domain metrics on, tracing off (no OTEL_* variables)
    BENCH_OTEL=0  both off: ACME_DOMAIN_METRICS=off, no tracing (the baseline)
    BENCH_OTEL=1  both on as a service turns them on: domain metrics, and tracing with the OTLP/HTTP batch
                  exporter at the platform's default sampling (one request in ten, acme-platform >= 0.4.2)
                  sending the spans (request, domain calls, SQL statements) to a local sink that reads and
                  drops them
    BENCH_OTEL=all  as 1, every request traced (OTEL_TRACES_SAMPLER=parentbased_always_on): what a traced
                  request costs
ACME_TRACE_SQL (on|off) is passed to L as set, to measure tracing without the statement spans.

The sink (otlp_sink.py) is its own process, so receiving the spans costs CPU as a collector beside the
service would; the exporter's work (protobuf encoding, HTTP posts from the batch thread) is L's own.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .services import Service, free_port


def mode() -> str:
    raw = os.environ.get("BENCH_OTEL", "").strip()
    if raw not in ("", "0", "1", "all"):
        raise SystemExit(f"BENCH_OTEL must be 0, 1 or all (got {raw!r})")
    return {"": "default", "0": "off", "1": "on", "all": "all"}[raw]


def describe() -> str:
    return {"default": "as deployed: domain metrics on, tracing off",
            "off": "BENCH_OTEL=0: domain metrics off, tracing off",
            "on": "BENCH_OTEL=1: domain metrics on, tracing on at the platform's default sampling (OTLP/HTTP batch "
                  "exporter to a local sink)" + _sql(),
            "all": "BENCH_OTEL=all: domain metrics on, tracing on, every request traced (OTLP/HTTP batch exporter to "
                   "a local sink)" + _sql()}[mode()]


def _sql() -> str:
    raw = os.environ.get("ACME_TRACE_SQL", "").strip()
    return f", ACME_TRACE_SQL={raw}" if raw else ""


def plan(logs: Path) -> tuple[dict[str, str], Service | None]:
    """L's extra environment, and the sink to start first (None unless BENCH_OTEL=1)."""
    if mode() == "off":
        return {"ACME_DOMAIN_METRICS": "off", "OTEL_TRACES_EXPORTER": "none"}, None
    if mode() == "default":
        return {}, None
    port = free_port()
    sink = Service("otlp-sink", "sink", [sys.executable, str(Path(__file__).with_name("otlp_sink.py")), str(port)],
                   Path(__file__).parent, dict(os.environ), port, logs / "otlp-sink.log")
    env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{sink.url}/v1/traces"}
    if mode() == "all":
        env["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"
    if os.environ.get("ACME_TRACE_SQL", "").strip():
        env["ACME_TRACE_SQL"] = os.environ["ACME_TRACE_SQL"].strip()
    return env, sink
