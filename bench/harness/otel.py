"""BENCH_OTEL: run L with per-domain observability switched on or off, to measure what it costs.

    (unset)     L as deployed: domain metrics on, tracing off (no OTEL_* variables)
    BENCH_OTEL=0  both off: ACME_DOMAIN_METRICS=off, no tracing (the baseline)
    BENCH_OTEL=1  both on: domain metrics, and tracing with the OTLP/HTTP batch exporter sending every
                  span (request, domain calls, SQL statements) to a local sink that reads and drops them

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
    if raw not in ("", "0", "1"):
        raise SystemExit(f"BENCH_OTEL must be 0 or 1 (got {raw!r})")
    return {"": "default", "0": "off", "1": "on"}[raw]


def describe() -> str:
    return {"default": "as deployed: domain metrics on, tracing off",
            "off": "BENCH_OTEL=0: domain metrics off, tracing off",
            "on": "BENCH_OTEL=1: domain metrics on, tracing on (OTLP/HTTP batch exporter to a local sink)"}[mode()]


def plan(logs: Path) -> tuple[dict[str, str], Service | None]:
    """L's extra environment, and the sink to start first (None unless BENCH_OTEL=1)."""
    if mode() == "off":
        return {"ACME_DOMAIN_METRICS": "off", "OTEL_TRACES_EXPORTER": "none"}, None
    if mode() == "default":
        return {}, None
    port = free_port()
    sink = Service("otlp-sink", "sink", [sys.executable, str(Path(__file__).with_name("otlp_sink.py")), str(port)],
                   Path(__file__).parent, dict(os.environ), port, logs / "otlp-sink.log")
    return {"OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{sink.url}/v1/traces"}, sink
