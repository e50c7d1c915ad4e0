"""Running the services: migrations, detached start with health check, fingerprint-driven restarts."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import config, fingerprint, proc, projects, supervisor
from .config import BIND_HOST, Layout
from .ui import StackError, tail


@dataclass
class Running:
    name: str
    url: str
    pid: int
    log: Path
    status: str


def port_for(svc: projects.Project) -> tuple[str, int]:
    spec = projects.service_spec(svc)
    return spec["port_env"], config.env_port(spec["port_env"], spec["default_port"])


# The backoffice console's Dependencies page reads the index (what is newer than the pins) with the
# read-only deploy login; other services never talk to the index at run time.
INDEX_READERS = ("backoffice",)


def service_env(venv: Path, svc: projects.Project, database_url: str, port: int,
                index_url: str = "", pooler_env: dict[str, str] | None = None,
                extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment contract every service can rely on (documented in deploy/README.md)."""
    spec = projects.service_spec(svc)
    extra = {"ACME_CONSOLE_INDEX_URL": index_url} if index_url and svc.dirname in INDEX_READERS else {}
    env = proc.isolated_env({
        **extra,
        **spec["env"],   # what the service always runs with, e.g. fulfillment's one worker
        "DATABASE_URL": database_url,
        # Only behind a pooler (POOLER=pgbouncer): DATABASE_DIRECT_URL for what needs a session, and the
        # role's pool in the pooler for the connection budget (pooler_stack.py).
        **(pooler_env or {}),
        "ACME_SERVICE_NAME": svc.dirname,
        spec["port_env"]: str(port),
        "ACME_BIND_HOST": BIND_HOST,
        "ACME_BIND": f"{BIND_HOST}:{port}",
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        **(extra_env or {}),   # make dev: the reload switch
    })
    return env


def command(venv: Path, svc: projects.Project) -> list[str]:
    cmd = list(projects.service_spec(svc)["command"])
    # The executable comes from the service's venv, not from whatever is first on PATH.
    if (venv / "bin" / cmd[0]).exists():
        cmd[0] = str(venv / "bin" / cmd[0])
    return cmd


def migrate(venv: Path, database_url: str, log: Path, label: str, wrap: Sequence[str] = ()) -> None:
    """`acmectl migrate` as the login of `database_url`; `wrap` runs it on a drill's host (netns.Host.wrap)."""
    acmectl = venv / "bin" / "acmectl"
    if not acmectl.exists():
        raise StackError(f"{label}: {acmectl} does not exist (acme-platform provides the acmectl command)", log)
    env = proc.isolated_env({"DATABASE_URL": database_url, "VIRTUAL_ENV": str(venv)})
    proc.run([*wrap, acmectl, "migrate"], log=log, what=f"acmectl migrate ({label})", env=env, timeout=600)


def check_budget(venv: Path, name: str, env: dict[str, str], log: Path) -> None:
    """`acmectl budget` with the service's own environment before it starts: a deployment that would
    oversubscribe its role or the server is refused with acmectl's one line (the numbers)."""
    acmectl = venv / "bin" / "acmectl"
    if not acmectl.exists():
        return
    res = proc.capture([acmectl, "budget"], env=env, cwd=venv)
    with open(log, "a") as fh:
        fh.write(res.stdout + res.stderr)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or [f"exit {res.returncode}"])[-1]
        raise StackError(f"{name} not started: {last.removeprefix('Error: ')}", log)


def healthy(port: int, path: str) -> bool:
    return proc.http_get(f"http://{BIND_HOST}:{port}{path}", timeout=2)[0] == 200


def ensure(layout: Layout, svc: projects.Project, venv: Path, venv_fp: str, database_url: str,
           timeout: float = 90, index_url: str = "", pooler_env: dict[str, str] | None = None,
           extra_env: dict[str, str] | None = None) -> Running:
    spec = projects.service_spec(svc)
    port_env, port = port_for(svc)
    name = svc.dirname
    log = layout.log(name)
    cwd = (svc.path / spec["cwd"]).resolve()
    cmd = command(venv, svc)
    want = fingerprint.sha256_text(venv_fp, *cmd, str(port), str(cwd), database_url,
                                   *sorted(f"{k}={v}" for k, v in {**(pooler_env or {}), **(extra_env or {})}.items()))
    url = f"http://{BIND_HOST}:{port}"

    rec = supervisor.load(layout.pids, name)
    status = "started"
    if supervisor.alive(rec):
        if rec.fingerprint == want and healthy(port, spec["health_path"]):
            return Running(name, url, rec.pid, log, "already up, nothing to do")
        supervisor.stop(layout.pids, name)
        status = "restarted (changed)"
    else:
        supervisor.forget(layout.pids, name)
    if proc.port_open(port):
        raise StackError(f"{name}: port {port} is already in use by another program (set {port_env})")
    env = service_env(venv, svc, database_url, port, index_url, pooler_env, extra_env)
    check_budget(venv, name, env, log)
    child = supervisor.start(name, cmd, cwd=cwd, env=env, log=log)
    supervisor.save(layout.pids, supervisor.Record(
        name=name, pid=child.pid, start_time=supervisor.start_time(child.pid) or 0,
        fingerprint=want, url=url, log=str(log), extra={"port": port, "kind": "service"}))
    ok = proc.wait_until(lambda: healthy(port, spec["health_path"]), timeout, 0.3,
                         abort=lambda: child.poll() is not None)
    if not ok:
        died = child.poll() is not None
        supervisor.stop(layout.pids, name)
        why = f"exited with code {child.returncode}" if died else f"did not answer GET {spec['health_path']} within {timeout:.0f}s"
        raise StackError(f"service {name} {why}", log, detail=tail(log, 30))
    return Running(name, url, child.pid, log, status)


def stop(layout: Layout, name: str) -> bool:
    return supervisor.stop(layout.pids, name)
