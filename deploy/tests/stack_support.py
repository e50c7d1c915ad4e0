"""A throwaway clone of the repo driven through `make` (shared by the slow stack tests).

The clone is overlaid with the working tree's files (so the current code is what runs), uses free,
non-default ports, and is always torn down: `make down`, then every process started from inside it is
killed and the directory removed. It never touches the caller's own `.run/` stack.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from conftest import copy_tree, free_port, service_spec

STEP_TIMEOUT = 900


def overlay(src: Path, dest: Path) -> None:
    """Copy the files a commit of the working tree would contain over the clone (fresh mtimes, as a real
    clone has)."""
    copy_tree(src, dest)


def clean_env(extra: dict[str, str], *, share_tools: bool = True) -> dict[str, str]:
    venv = os.environ.get("VIRTUAL_ENV", "")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if not venv or not p.startswith(venv)]
    env = {k: v for k, v in os.environ.items()
           if (k == "UV_CACHE_DIR" or not k.startswith(("PIP_", "UV_", "ACME_")))
           and k not in ("VIRTUAL_ENV", "DATABASE_URL", "PYTHONPATH", "MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = os.pathsep.join(path)
    tools_bin = os.environ.get("ACME_TEST_TOOLS_BIN")
    if tools_bin and share_tools:
        # Reuse the already-installed tools venv instead of reinstalling it in the clone (~25 s).
        env["ACME_TOOLS_VENV"] = str(Path(tools_bin).parent)
    env.update(extra)
    return env


def processes_inside(root: Path) -> list[str]:
    """Every process whose cwd or command line points inside `root`."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(root) in cmdline or cwd == str(root) or cwd.startswith(str(root) + "/"):
            found.append(f"{entry.name}: {cmdline.strip()[:200]} (cwd {cwd})")
    return found


def sigterm_as_interrupt(signum, frame):
    # `make test` stops a suite with SIGTERM; raising lets the fixture's finally run `make down`.
    raise KeyboardInterrupt(f"signal {signum}")


class Stack:
    """wrap: argv prefix every `make` runs under (e.g. a private mount namespace);
    share_tools=False: the clone installs its own tools venv, as a fresh clone would."""

    def __init__(self, repo_root: Path, *, wrap: list[str] | None = None, share_tools: bool = True):
        self.wrap = list(wrap or [])
        self.base = Path(tempfile.mkdtemp(prefix="acme-stack-test-"))
        os.chmod(self.base, 0o755)  # the postgres OS user must traverse into the clone's .run/
        self.root = self.base / "repo"
        self.env: dict[str, str] = {}
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(repo_root), str(self.root)],
                       check=True, capture_output=True)
        overlay(repo_root, self.root)
        self.ports = {"ACME_PG_PORT": free_port(), "ACME_INDEX_PORT": free_port()}
        self.services = sorted(p.parent.name for p in (self.root / "services").glob("*/pyproject.toml"))
        for name in self.services:
            self.ports[service_spec(self.root, name)["port_env"]] = free_port()
        self.env = clean_env({k: str(v) for k, v in self.ports.items()}, share_tools=share_tools)

    def make(self, target: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return self.run(["make", "--no-print-directory", target], env)

    def run(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        # Own process group: if we are interrupted mid-`make up`, the whole orchestrator stops
        # (not just `make`) before teardown runs `make down`.
        p = subprocess.Popen([*self.wrap, *argv], cwd=self.root, env={**self.env, **(env or {})}, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=STEP_TIMEOUT)
        except BaseException:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.communicate()
            raise
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def pids(self) -> dict[str, str]:
        pids = {p.stem: p.read_text().strip() for p in (self.root / ".run" / "pids").glob("*.pid")}
        pm = self.root / ".run" / "postgres" / "data" / "postmaster.pid"
        if pm.exists():
            pids["postgres"] = pm.read_text().splitlines()[0]
        return pids

    def credentials(self) -> tuple[str, str]:
        creds = dict(line.split("=", 1) for line in (self.root / ".run/index/credentials").read_text().splitlines()
                     if "=" in line and not line.startswith("#"))
        return creds["ACME_INDEX_USER"], creds["ACME_INDEX_PASSWORD"]

    def teardown(self) -> None:
        try:
            if self.root.exists():
                self.make("down")
        finally:
            # Belt and braces: nothing started from the clone may outlive the test.
            for line in processes_inside(self.base):
                try:
                    os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            shutil.rmtree(self.base, ignore_errors=True)


def explain(res: subprocess.CompletedProcess) -> str:
    return f"exit {res.returncode}\n--- stdout ---\n{res.stdout[-6000:]}\n--- stderr ---\n{res.stderr[-6000:]}"


def assert_nothing_left_running(stack) -> None:
    """After `make down`: no process of the clone's stack, and none of its ports still open."""
    import socket
    import time

    deadline = time.monotonic() + 10
    while processes_inside(stack.base) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_inside(stack.base) == []
    for name, port in stack.ports.items():
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"{name} port {port} still open after make down"
