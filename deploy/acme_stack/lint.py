"""`make check`'s code standards: ruff and mypy over the whole tree, as configured once in the root's
`ruff.toml` and `mypy.ini`, run from the tools venv at the versions pinned in deploy/requirements-tools.txt.

Each finding becomes `path:line: message` like every other check. The same pins must be what
`.pre-commit-config.yaml` installs (checked here too), so a commit hook and `make check` never disagree.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from . import proc, tools
from .config import Layout
from .findings import Finding
from .ui import StackError

PRE_COMMIT = Path(".pre-commit-config.yaml")
TOOLS = ("ruff", "mypy")

# ruff --output-format concise: `path:line:col: CODE message`; mypy: `path:line: error: message  [code]`.
_RUFF = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+):\d+: (?P<msg>.+)$")
_MYPY = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+): error: (?P<msg>.+)$")


def _run(layout: Layout, args: list[str], what: str) -> subprocess.CompletedProcess:
    exe = tools.bin(layout, args[0])
    if not exe.exists():
        raise StackError(f"{exe} is missing: the tools venv predates {args[0]} (run `make up` or `make test`)")
    # Nothing from the caller's environment steers the run (MYPYPATH, PYTHONPATH, RUFF_*): the root's config does.
    env = {k: v for k, v in proc.isolated_env().items()
           if k not in ("MYPYPATH", "PYTHONPATH") and not k.startswith(("RUFF_", "MYPY_"))}
    try:
        return subprocess.run([str(exe), *args[1:]], cwd=layout.root, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} did not finish within 600 s") from None


def _parse(res: subprocess.CompletedProcess, pattern: re.Pattern, tool: str) -> list[Finding]:
    found = [Finding(m["path"], int(m["line"]), f"{tool}: {m['msg'].strip()}")
             for m in map(pattern.match, res.stdout.splitlines()) if m]
    if res.returncode != 0 and not found:
        # A broken config or a crash, not a finding: say so rather than pass silently.
        tail = " | ".join(res.stdout.strip().splitlines()[-5:])
        found.append(Finding(tool, 1, f"{tool} failed (exit {res.returncode}): {tail}"))
    return sorted(set(found))


def check_ruff(layout: Layout) -> list[Finding]:
    res = _run(layout, ["ruff", "check", "--no-fix", "--output-format", "concise", "."], "ruff")
    return _parse(res, _RUFF, "ruff")


def check_mypy(layout: Layout) -> list[Finding]:
    # The files, paths and per-module exceptions all come from mypy.ini; its cache lives under .run/.
    res = _run(layout, ["mypy", "--no-error-summary", "--no-pretty", "--show-error-codes"], "mypy")
    return _parse(res, _MYPY, "mypy")


def pinned(tools_lock: Path) -> dict[str, str]:
    text = tools_lock.read_text()
    pins = {}
    for name in TOOLS:
        m = re.search(rf"^{name}==(\S+)", text, re.M)
        if not m:
            raise StackError(f"{tools_lock.name} does not pin {name}: add it to requirements-tools.in, `make relock-tools`")
        pins[name] = m.group(1)
    return pins


def _pin_findings(path: Path, rel: str, pins: dict[str, str], what: str) -> list[Finding]:
    if not path.is_file():
        return [Finding(rel, 1, f"missing: {what}")]
    lines = path.read_text().splitlines()
    found = []
    for name, version in pins.items():
        wanted = f"{name}=={version}"
        hits = [i for i, ln in enumerate(lines, 1) if re.search(rf"\b{name}==", ln)]
        if not hits:
            found.append(Finding(rel, 1, f"does not install {wanted} (the tools venv's version, what make check runs)"))
        for i in hits:
            if wanted not in lines[i - 1]:
                found.append(Finding(rel, i, f"installs another {name} than make check runs: want {wanted}"))
    return found


def check_pins(root: Path, tools_lock: Path) -> list[Finding]:
    """`.pre-commit-config.yaml` and every package's CI workflow install exactly the ruff and mypy that
    make check runs, so a hook, a package's CI and this tree never disagree about a finding."""
    pins = pinned(tools_lock)
    found = _pin_findings(root / PRE_COMMIT, PRE_COMMIT.as_posix(), pins, "the commit hooks running ruff and mypy")
    for ci in sorted([*root.glob("libs/*/.github/workflows/ci.yml"), *root.glob("services/*/.github/workflows/ci.yml")]):
        found += _pin_findings(ci, ci.relative_to(root).as_posix(), pins, "the package's CI")
    return found
