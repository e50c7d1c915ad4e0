"""Load generators: wrk for the HTTP modes (L, H), bench/floor.py for F. Both are closed loops with a
fixed number of clients, a warm-up, then a fixed measured window; both only ever target 127.0.0.1."""
from __future__ import annotations

import json
import resource
import subprocess
import time
from pathlib import Path

from acme_stack import debian
from acme_stack.ui import StackError

from .cpu import Window
from .stack import BENCH, BenchError

LUA = BENCH / "lua"
WRK_TIMEOUT_S = 10   # a slower response is a latency sample, not an error


def ensure_wrk() -> str:
    try:
        return debian.ensure_command("wrk", "wrk")
    except StackError as e:
        raise BenchError(e.message) from None


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].strip() if (done.stdout or done.stderr) else "?"


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _parse(text: str, what: str) -> dict:
    for line in text.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line[len("BENCHJSON "):])
    raise BenchError(f"{what}: no result line in its output:\n{text[-1500:]}")


def wrk(url: str, script: str, concurrency: int, seconds: int, fixtures: Path, nonce: str,
        extra: list[str] | None = None, window: Window | None = None) -> dict:
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT_S}s",
           "-s", str(LUA / f"{script}.lua"), url, "--", str(fixtures), nonce, *(extra or [])]
    cpu0 = _children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if window:
        window.start()
    out, _ = proc.communicate(timeout=seconds + 60)
    generator_cpu = _children_cpu() - cpu0
    raw = _parse(out, f"wrk {script}")
    raw["duration_s"] = raw["duration_us"] / 1e6
    raw["cpu"] = window.finish(generator_cpu, raw["duration_s"]) if window else None
    raw["generator"] = "wrk -t1"
    return raw


def floor(python: Path, dsn: str, workload: str, concurrency: int, warmup: float, seconds: float, fixtures: Path,
          nonce: str, hops: int | None = None, window: Window | None = None) -> dict:
    # `python` is L's (the storefront venv's): floor.py imports its statements from the very domain
    # wheels L runs.
    cmd = [str(python), str(BENCH / "floor.py"), "--dsn", dsn, "--workload", workload,
           "--concurrency", str(concurrency), "--warmup", str(warmup), "--duration", str(seconds),
           "--fixtures", str(fixtures), "--nonce", nonce]
    if hops is not None:
        cmd += ["--hops", str(hops)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    started = None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("MEASURE_START") and window:
            window.start()
            started = time.monotonic()
    proc.wait(timeout=60)
    raw = _parse("".join(lines), f"floor {workload}")
    raw["duration_s"] = seconds
    if window and started is not None:
        raw["cpu"] = window.finish(raw.get("client_cpu_s", 0.0), seconds)
    else:
        raw["cpu"] = None
    raw["generator"] = "floor.py (the client is the workload)"
    return raw


def summarize(raw: dict) -> dict:
    lat = raw["latency_us"]
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "duration_s": round(raw["duration_s"], 3),
        "throughput_rps": round(raw["requests"] / raw["duration_s"], 1) if raw["duration_s"] else 0.0,
        "latency_ms": {k: round(lat[k] / 1000, 3) for k in ("p50", "p90", "p99", "p999", "mean", "min", "max")},
        "errors": errors,
        "error_count": sum(v for v in errors.values()),
        "cpu": raw.get("cpu"),
        "generator": raw.get("generator"),
    }


def combine(rounds: list[dict]) -> dict:
    """One cell from its rounds: the median round for latency and throughput, errors summed, every
    round kept in `rounds`."""
    import statistics

    def med(get):
        return round(statistics.median(get(r) for r in rounds), 3)

    keys = rounds[0]["latency_ms"].keys()
    cpu_keys = [k for k in (rounds[0].get("cpu") or {}) if k != "cores"]
    out = {
        "requests": sum(r["requests"] for r in rounds),
        "duration_s": round(sum(r["duration_s"] for r in rounds), 3),
        "throughput_rps": med(lambda r: r["throughput_rps"]),
        "latency_ms": {k: med(lambda r, k=k: r["latency_ms"][k]) for k in keys},
        "errors": {k: sum(r["errors"].get(k, 0) for r in rounds) for k in rounds[0]["errors"]},
        "error_count": sum(r["error_count"] for r in rounds),
        "cpu": ({k: med(lambda r, k=k: (r.get("cpu") or {}).get(k, 0.0)) for k in cpu_keys}
                if cpu_keys else None),
        "generator": rounds[0].get("generator"),
        "aggregation": f"median of {len(rounds)} round(s)",
        "rounds": [{"p50": r["latency_ms"]["p50"], "p99": r["latency_ms"]["p99"],
                    "throughput_rps": r["throughput_rps"], "errors": r["error_count"]} for r in rounds],
    }
    if out["cpu"] is not None:
        out["cpu"]["cores"] = (rounds[0].get("cpu") or {}).get("cores")
    return out
