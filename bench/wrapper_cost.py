"""What one observed domain call costs by itself (acme_platform.telemetry), with timeit.

Run in a venv with acme-platform[web], e.g. L's:  .run/venvs/storefront/bin/python bench/wrapper_cost.py
Each case runs in a fresh process (metrics and tracing are per-process choices): a raw function that
does nothing, and the same function observed with metrics off/on and tracing off/on. Metrics are in
prometheus-client's multiprocess mode (files, as under gunicorn); tracing uses the SDK's batch processor
with an exporter that drops the batches (encoding and sending are the exporter thread's, not the call's).
Prints µs per call (best of 5 repeats of N calls) and the overhead over the raw call.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CASE = r"""
import json, os, sys, timeit
case = sys.argv[1]
if case in ("metrics", "both"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["WRAPPER_COST_DIR"]
else:
    os.environ["ACME_DOMAIN_METRICS"] = "off"
if case in ("tracing", "both"):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
from acme_platform.telemetry.calls import observed

def work(uow, x):
    return x

fn = work if case == "raw" else observed("bench", "work", work)
fn(None, 1)
n = 20000
best = min(timeit.repeat(lambda: fn(None, 1), number=n, repeat=5)) / n
print(json.dumps(best * 1e6))
"""


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as metrics_dir:
        env = dict(os.environ, WRAPPER_COST_DIR=metrics_dir)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        for case in ("raw", "off", "metrics", "tracing", "both"):
            out = subprocess.run([sys.executable, "-c", CASE, case], env=env, capture_output=True, text=True,
                                 check=True)
            results[case] = json.loads(out.stdout)
    raw = results["raw"]
    labels = {"raw": "raw function", "off": "observed, metrics off, tracing off",
              "metrics": "observed, metrics on (multiprocess files)", "tracing": "observed, tracing on (batch)",
              "both": "observed, metrics on + tracing on"}
    for case, us in results.items():
        extra = "" if case == "raw" else f"  (+{us - raw:.2f} µs)"
        print(f"{labels[case]:<45} {us:6.2f} µs/call{extra}")


if __name__ == "__main__":
    main()
