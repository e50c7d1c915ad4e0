"""Debian packages the stack and its tests use (pgbouncer, chromium, wrk): installed with apt-get when missing.

Nothing may depend on something installed by hand, so the project installs them itself; one place knows how
(an `apt-get update` only when the first install fails, no prompts, apt's own last line when it cannot).
"""
from __future__ import annotations

import os
import shutil
import subprocess

from .ui import StackError

_ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def install(package: str, *, recommends: bool = True) -> None:
    """`apt-get install <package>`; StackError (one line) when this process cannot or apt fails."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(f"{package} is not installed: apt-get install {package}")
    cmd = ["apt-get", "install", "-y", "-q", *([] if recommends else ["--no-install-recommends"]), package]
    res = _run(cmd)
    if res.returncode != 0:   # a stale package list: refresh it once, then try again
        _run(["apt-get", "update", "-q"])
        res = _run(cmd)
    if res.returncode != 0:
        last = (res.stderr or res.stdout).strip().splitlines()
        raise StackError(f"apt-get install {package} failed: {last[-1] if last else f'exit {res.returncode}'}")


def ensure_command(command: str, package: str, *, recommends: bool = True) -> str:
    """The path of `command`, installing its Debian `package` first when it is not on PATH."""
    found = shutil.which(command)
    if found:
        return found
    print(f"installing {package} (Debian package) for {command}…", flush=True)
    install(package, recommends=recommends)
    found = shutil.which(command, path=f"{os.environ.get('PATH', '')}{os.pathsep}{_ENV['PATH']}")
    if not found:
        raise StackError(f"{package} is installed but `{command}` is not on PATH")
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=_ENV, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
