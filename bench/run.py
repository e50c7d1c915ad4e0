#!/usr/bin/env python3
"""Acme benchmark: library mode (L) vs HTTP microservices (H) vs the floor (F), on one PostgreSQL.

    python3 bench/run.py            # full run (`make bench`, < 10 min on 2 cores)
    python3 bench/run.py --quick    # short windows, c = 1 and 32 (`make bench-quick`, < 2 min)

Needs a running `make up` (PostgreSQL, the private index, the storefront venv). This file is stdlib
only: it creates the harness venv `.run/venvs/_bench` (matplotlib, psycopg, py-spy) with uv and
re-executes itself there; the rest lives in bench/harness/. See bench/README.md.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HARNESS_VENV = ROOT / ".run" / "venvs" / "_bench"
# The harness only measures and draws; it comes from the machine's default index (the services it
# measures come from the private index, see harness/stack.py).
HARNESS_REQUIREMENTS = ["matplotlib==3.11.2", "psycopg[binary]==3.3.9", "py-spy==0.4.3"]
_STAMP = ".bench-fingerprint"


def find_uv() -> str:
    for candidate in (os.environ.get("BENCH_UV", ""), str(ROOT / ".run" / "tools" / "bin" / "uv"),
                      shutil.which("uv") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("bench: uv not found (run `make up`, which creates .run/tools/bin/uv, or set BENCH_UV)")


def ensure_harness_venv() -> Path:
    python = HARNESS_VENV / "bin" / "python"
    want = hashlib.sha256("\n".join([*HARNESS_REQUIREMENTS, sys.version, sys.executable]).encode()).hexdigest()
    stamp = HARNESS_VENV / _STAMP
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    uv = find_uv()
    print(f"bench: creating the harness venv {HARNESS_VENV.relative_to(ROOT)} ({', '.join(HARNESS_REQUIREMENTS)})",
          flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    subprocess.run([uv, "venv", "--clear", "--quiet", "--python", sys.executable, str(HARNESS_VENV)],
                   check=True, env=env)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), *HARNESS_REQUIREMENTS],
                   check=True, env=env)
    stamp.write_text(want + "\n")
    return python


def main() -> None:
    if os.environ.get("BENCH_IN_HARNESS") != "1":
        python = ensure_harness_venv()
        env = dict(os.environ, BENCH_IN_HARNESS="1")
        env.pop("PYTHONPATH", None)
        os.execve(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]], env)
    sys.path.insert(0, str(BENCH))
    from harness.main import main as harness_main

    sys.exit(harness_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
