"""Each suite's result: counted from its junit XML, printed as it finishes, summed into the closing line
`N passed, N failed` that CI reads."""
from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    name: str
    ok: bool
    passed: int = 0
    failed: int = 0  # failures + errors
    skipped: int = 0
    summary: str = ""
    seconds: float = 0.0
    output: str = ""


def count_junit(res: Result, junit: Path) -> None:
    """Add the counts of pytest's junit XML to `res` (nothing when the file is missing or broken)."""
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for s in suites:
        tests, fail, err, skip = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        res.passed += tests - fail - err - skip
        res.failed += fail + err
        res.skipped += skip


def last_summary(output: str) -> str:
    """pytest's own closing line (`3 passed in 1.2s`), if the output has one."""
    for line in reversed(output.strip().splitlines()):
        s = line.strip().strip("=").strip()
        if " in " in s and any(w in s for w in ("passed", "failed", "error", "skipped", "no tests ran")):
            return s
    return ""


_print_lock = threading.Lock()  # suites finish on worker threads: one report at a time


def report(res: Result) -> None:
    with _print_lock:
        mark = "ok" if res.ok else "FAILED"
        print(f"\n──── {res.name}: {mark} — {res.summary} ({res.seconds:.0f}s) ────", flush=True)
        if res.output.strip():
            print(res.output.rstrip(), flush=True)


def summarise(results: list[Result], seconds: float) -> int:
    """Print the summary and the closing line; the exit code of `make test`."""
    order = {r.name: i for i, r in enumerate(results)}
    print("\n════ summary ════")
    for r in sorted(results, key=lambda r: order[r.name]):
        print(f"  {'ok    ' if r.ok else 'FAILED'} {r.name}: {r.summary}")
    if not results:
        print("  no suites found")
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    all_ok = all(r.ok for r in results)
    print(f"total time {seconds:.0f}s")
    # The plain closing line CI reads; keep it last and exactly this shape.
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if all_ok and failed == 0 else 1
