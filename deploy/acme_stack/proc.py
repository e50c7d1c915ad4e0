"""Running subprocesses into log files, isolated environments, ports and tiny HTTP checks."""
from __future__ import annotations

import base64
import os
import re
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from .ui import StackError, tail

# Variables that would point installs at other indexes or another interpreter. The machine's pip
# config adds extra local indexes, so anything that must see ONLY our private index drops them.
_ISOLATION_PREFIXES = ("PIP_", "UV_")
_ISOLATION_NAMES = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "PIP_CONFIG_FILE")


# Where uv keeps its cache changes nothing about what gets installed; keep the user's choice.
_KEEP = ("UV_CACHE_DIR",)


def isolated_env(extra: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if (k in _KEEP or not k.startswith(_ISOLATION_PREFIXES)) and k not in _ISOLATION_NAMES
        and k not in set(drop)
    }
    if extra:
        env.update(extra)
    return env


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def redact(text: str) -> str:
    """Hide the password part of any URL (index URLs carry credentials on uv's command line)."""
    return _URL_PASSWORD.sub(r"\1****@", text)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `cmd`, appending its output to `log`; a failure becomes one StackError line."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(f"\n$ {redact(shlex.join(str(c) for c in cmd))}\n")
        fh.flush()
        try:
            proc = subprocess.run(
                [str(c) for c in cmd],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL if input_text is None else None,
                input=input_text,
                text=True,
                env=dict(env) if env is not None else None,
                cwd=str(cwd) if cwd else None,
                timeout=timeout,
            )
        except FileNotFoundError:
            raise StackError(f"{what} failed: {cmd[0]} not found", log) from None
        except subprocess.TimeoutExpired:
            raise StackError(f"{what} timed out after {timeout:.0f}s", log) from None
    if check and proc.returncode != 0:
        raise StackError(f"{what} failed (exit {proc.returncode})", log, detail=tail(log, 15))
    return proc


def capture(cmd: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a short query command and keep its output in memory."""
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None, cwd=str(cwd) if cwd else None, timeout=timeout,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_get(url: str, *, auth: tuple[str, str] | None = None, timeout: float = 5.0):
    """GET returning (status, headers, body); connection errors come back as status 0."""
    req = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers or {}), e.read() if e.fp else b""
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}, b""


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2,
               abort: Callable[[], bool] | None = None) -> bool:
    """Poll `check` until true or timeout; `abort` ends early (e.g. the process died)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if abort and abort():
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
