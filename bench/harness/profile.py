"""Profile L's place_order with py-spy while wrk drives it, and boil the samples down to tables.

py-spy samples the storefront's gunicorn workers from outside (no code change, --nonblocking so the
target is not paused). Under gevent every greenlet runs on the worker's main thread, and py-spy
drops idle samples (the hub waiting in epoll), so the profile is where L spends CPU.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Buckets for "where does the CPU go": the first matching path fragment of the LEAF frame wins.
_BUCKETS = [
    ("psycopg (driver)", ("psycopg/", "psycopg_binary", "psycopg_c")),
    ("sqlalchemy (core: compile, execute, result)", ("sqlalchemy/",)),
    ("gevent (hub, sockets)", ("gevent/", "greenlet")),
    ("spectree + pydantic (validation)", ("spectree/", "pydantic/", "pydantic_core")),
    ("flask + werkzeug (routing, request, response)", ("flask/", "werkzeug/", "itsdangerous", "jinja2")),
    ("logging + json logger", ("logging/", "pythonjsonlogger/", "json_logger")),
    ("prometheus_client (metrics)", ("prometheus_client/",)),
    ("gunicorn", ("gunicorn/",)),
    ("acme_* domain + platform code", ("acme_platform/", "acme_identity/", "acme_catalog/", "acme_billing/",
                                       "acme_orders/")),
    ("storefront service code", ("storefront/",)),
    ("stdlib: json", ("json/",)),
    ("stdlib: uuid, hashlib, datetime, other", ("/python3.11/", "<frozen", "lib/python3")),
]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def record(py_spy: str, pid: int, seconds: int, out: Path, log: Path) -> subprocess.Popen:
    flags = os.environ.get("BENCH_PYSPY_FLAGS", "--gil").split()
    cmd = [py_spy, "record", "--pid", str(pid), "--subprocesses", *flags, "--rate", "200",
           "--format", "raw", "--duration", str(seconds), "--output", str(out)]
    fh = open(log, "ab")
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)


def _frames(stack: str) -> list[str]:
    # "process 123:"... prefixes and thread names come first in raw output; keep only code frames.
    return [f for f in stack.split(";") if _FRAME.match(f) and "(" in f]


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path}:{m.group('line') or '?'})" if m.group("line") else f"{m.group('func')} ({path})"


def _bucket(frame: str) -> str:
    for name, needles in _BUCKETS:
        if any(n in frame for n in needles):
            return name
    return "other"


def analyze(raw: Path, top: int = 30) -> dict:
    total = 0
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        if not frames:
            continue
        total += n
        leaf = frames[-1]
        self_counts[_short(leaf)] += n
        buckets[_bucket(leaf)] += n
        for f in {_short(f) for f in frames}:
            inclusive[f] += n
    pct = lambda c: round(100 * c / total, 1) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "buckets": [{"bucket": b, "pct": pct(c)} for b, c in buckets.most_common()],
        "self": [{"frame": f, "pct": pct(c)} for f, c in self_counts.most_common(top)],
        "inclusive": [{"frame": f, "pct": pct(c)} for f, c in inclusive.most_common(top * 2)
                      if not f.startswith(("<module>", "run (", "_bootstrap"))][:top],
    }


def render(analysis: dict) -> str:
    lines = [f"py-spy samples: {analysis['samples']} (CPU only; idle gevent hub excluded)", "",
             "Self time by component (leaf frame):"]
    lines += [f"  {b['pct']:5.1f}%  {b['bucket']}" for b in analysis["buckets"]]
    lines += ["", "Top frames by self time:"]
    lines += [f"  {f['pct']:5.1f}%  {f['frame']}" for f in analysis["self"]]
    lines += ["", "Top frames by inclusive time:"]
    lines += [f"  {f['pct']:5.1f}%  {f['frame']}" for f in analysis["inclusive"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":   # re-analyze a saved raw profile: python -m harness.profile FILE
    print(render(analyze(Path(sys.argv[1]))))
