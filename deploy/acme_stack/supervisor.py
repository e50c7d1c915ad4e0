"""Detached processes tracked by PID files, so a later `make` run can find, check and stop them.

Each managed process gets `<pids>/<name>.pid` (just the PID, for humans and scripts) and
`<pids>/<name>.json` (start time, fingerprint, url, log). The start time from /proc guards against
PID reuse: a PID file whose process has a different start time is treated as dead.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, TypeGuard

from .proc import wait_until


@dataclass
class Record:
    name: str
    pid: int
    start_time: int  # /proc/<pid>/stat field 22: distinguishes a reused PID
    fingerprint: str = ""
    url: str = ""
    log: str = ""
    extra: dict = field(default_factory=dict)


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after the last ')' is fixed fields.
    return raw[raw.rfind(")") + 2:].split()


def start_time(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def pid_alive(pid: int, expected_start: int | None = None) -> bool:
    fields = _stat(pid)
    if not fields or fields[0] in ("Z", "X"):  # zombies count as dead
        return False
    return expected_start is None or int(fields[19]) == expected_start


def _paths(pids_dir: Path, name: str) -> tuple[Path, Path]:
    return pids_dir / f"{name}.pid", pids_dir / f"{name}.json"


def load(pids_dir: Path, name: str) -> Record | None:
    _, meta = _paths(pids_dir, name)
    try:
        data = json.loads(meta.read_text())
        return Record(**data)
    except (OSError, ValueError, TypeError):
        return None


def save(pids_dir: Path, rec: Record) -> None:
    pids_dir.mkdir(parents=True, exist_ok=True)
    pid_file, meta = _paths(pids_dir, rec.name)
    pid_file.write_text(f"{rec.pid}\n")
    meta.write_text(json.dumps(asdict(rec), indent=2) + "\n")


def forget(pids_dir: Path, name: str) -> None:
    for p in _paths(pids_dir, name):
        p.unlink(missing_ok=True)


def alive(rec: Record | None) -> TypeGuard[Record]:
    return rec is not None and pid_alive(rec.pid, rec.start_time)


def start(name: str, cmd: list[str], *, cwd: Path, env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """Start detached in its own session (own process group) so it outlives `make` and can be
    stopped as a group (gunicorn workers, pypiserver threads) without touching anything else."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {' '.join(cmd)}\n")
        fh.flush()
        return subprocess.Popen(
            [str(c) for c in cmd], cwd=str(cwd), env=dict(env), stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for others waitpid raises ChildProcessError.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _dead(pid: int, start: int | None) -> bool:
    _reap(pid)
    return not pid_alive(pid, start)


def stop_pid(pid: int, start: int | None, timeout: float = 15.0) -> bool:
    """SIGTERM the process group, wait, then SIGKILL it. Returns True if something was running."""
    if not pid_alive(pid, start):
        return False
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    # Signal the group only when the process leads it (we started it with a new session);
    # otherwise fall back to the single PID so we never hit an unrelated group.
    target = (lambda sig: os.killpg(pgid, sig)) if pgid == pid else (lambda sig: os.kill(pid, sig))
    try:
        target(signal.SIGTERM)
    except ProcessLookupError:
        return True
    if not wait_until(lambda: _dead(pid, start), timeout, 0.1):
        try:
            target(signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(lambda: _dead(pid, start), 5, 0.1)
    if pgid == pid:
        # Group members that ignored SIGTERM (or were orphaned when the leader exited) get SIGKILL.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return True


def stop(pids_dir: Path, name: str, timeout: float = 15.0) -> bool:
    rec = load(pids_dir, name)
    was_running = rec is not None and stop_pid(rec.pid, rec.start_time, timeout)
    forget(pids_dir, name)
    return was_running


def processes_under(root: Path) -> list[int]:
    """PIDs whose working directory or command line lies inside `root` (never our own)."""
    root_s = str(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == root_s or cwd.startswith(root_s + "/") or root_s + "/" in cmdline:
            found.append(int(entry.name))
    return found


def kill_under(root: Path) -> int:
    """Last-resort cleanup of a temp dir: SIGKILL everything still running from inside it."""
    pids = processes_under(root)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        _reap(pid)
    return len(pids)
