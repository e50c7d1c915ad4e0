"""Where the two cores went during a measured window: generator, services, PostgreSQL, the rest.

Long-lived processes (services, PostgreSQL) are sampled from /proc at the window's start and end;
the load generator is a child, measured by its own CPU (wrk: getrusage of the reaped child; F: the
driver reports its processes' CPU inside the window)."""
from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def _table() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, cpu seconds) for every process."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        out[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return out


def _machine() -> tuple[float, float]:
    """(busy, total) seconds summed over all cores, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / TICK, total / TICK


def descendants(roots: list[int], table: dict[int, tuple[int, float]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack = set(), [r for r in roots if r in table]
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(children.get(pid, []))
    return seen


class Window:
    """Snapshot at start(); finish() returns percent-of-one-core per named group of root pids."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups

    def start(self) -> None:
        self.t0 = _table()
        self.m0 = _machine()

    def finish(self, generator_cpu_s: float, seconds: float) -> dict[str, float]:
        t1 = _table()
        m1 = _machine()
        out: dict[str, float] = {}
        accounted = generator_cpu_s
        for name, roots in self.groups.items():
            pids = descendants(roots, t1) | descendants(roots, self.t0)
            used = sum(t1[p][1] - (self.t0[p][1] if p in self.t0 else 0.0) for p in pids if p in t1)
            out[f"{name}_pct"] = round(100 * used / seconds, 1)
            accounted += used
        busy = m1[0] - self.m0[0]
        out["generator_pct"] = round(100 * generator_cpu_s / seconds, 1)
        out["machine_busy_pct"] = round(100 * busy / seconds, 1)        # of one core; max = 100 x cores
        out["other_pct"] = round(100 * max(0.0, busy - accounted) / seconds, 1)
        out["cores"] = CORES
        return out


def background_busy(seconds: float = 2.0) -> float:
    """Percent of one core busy while the bench itself is idle: other people's work on this machine."""
    import time

    b0, _ = _machine()
    time.sleep(seconds)
    b1, _ = _machine()
    return round(100 * (b1 - b0) / seconds, 1)
