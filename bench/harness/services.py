"""The gunicorn services under test: started detached in their own process group, health-checked,
stopped by process group. L is the storefront exactly as `make up` runs it (its venv, its command
from [tool.acme.service], its gunicorn.conf.py) pointed at the bench database on a bench port.
Starting, health checks and stopping by process group are deploy/acme_stack's (supervisor, proc)."""
from __future__ import annotations

import os
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from acme_stack import proc as stack_proc
from acme_stack import supervisor

from .stack import BENCH, ROOT, STOREFRONT, BenchError, Stack, isolated_env

HOST = "127.0.0.1"


@dataclass
class Service:
    name: str
    mode: str               # "L" or "H"
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def port_in_use(port: int) -> bool:
    return stack_proc.port_open(port, HOST)


def _env(venv: Path, database_url: str, name: str, port_env: str, port: int, extra: dict | None = None) -> dict:
    # The contract deploy/acme_stack/services.py gives every service, plus what the bench adds.
    env = isolated_env({
        "DATABASE_URL": database_url, "ACME_SERVICE_NAME": name, port_env: str(port),
        "ACME_BIND_HOST": HOST, "ACME_BIND": f"{HOST}:{port}", "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    env.update(extra or {})
    return env


def free_port() -> int:
    return stack_proc.free_port()


def plan(stack: Stack, logs: Path, port_base: int | None, l_env: dict | None = None) -> list[Service]:
    """l_env: what L runs with on top of the contract (POOLER=pgbouncer: its URLs through PgBouncer)."""
    spec = tomllib.loads((STOREFRONT / "pyproject.toml").read_text())["tool"]["acme"]["service"]
    sf_venv, h_venv, db = stack.storefront_venv, stack.http_venv, stack.service_url
    sf_cmd = list(spec["command"])
    sf_cmd[0] = str(sf_venv / "bin" / sf_cmd[0])
    offsets = {"storefront": 1, "l-hops": 2, "identity": 11, "catalog": 12, "billing": 13, "orders": 14}
    # Free ports picked by the kernel unless BENCH_PORT_BASE pins them (other stacks and test runs
    # on this machine use the 80xx/81xx ranges).
    ports = {n: (port_base + o if port_base else free_port()) for n, o in offsets.items()}
    urls = {f"BENCH_{n.upper()}_URL": f"http://{HOST}:{ports[n]}" for n in ("identity", "catalog", "billing", "orders")}
    if os.environ.get("BENCH_HTTP_POOL"):
        urls["BENCH_HTTP_POOL"] = os.environ["BENCH_HTTP_POOL"]
    services = [
        Service("storefront", "L", sf_cmd, (STOREFRONT / spec.get("cwd", ".")).resolve(),
                _env(sf_venv, db, "storefront", spec["port_env"], ports["storefront"], l_env), ports["storefront"],
                logs / "storefront.log"),
        Service("l-hops", "L", [str(sf_venv / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "app:create_app()"],
                BENCH / "l_hops", _env(sf_venv, db, "bench-l-hops", "BENCH_PORT", ports["l-hops"], l_env),
                ports["l-hops"], logs / "l-hops.log"),
    ]
    if stack.monolith_venv is not None:
        services.append(monolith(stack, logs, port_base + 3 if port_base else free_port()))
    for name in ("identity", "catalog", "billing", "orders"):
        services.append(Service(
            f"h-{name}", "H", [str(h_venv / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", f"{name}_app:create_app()"],
            BENCH / "http_services", _env(h_venv, db, f"bench-h-{name}", "BENCH_PORT", ports[name], urls),
            ports[name], logs / f"h-{name}.log"))
    return services


def monolith(stack: Stack, logs: Path, port: int) -> Service:
    """M: the all-in-one deployable as `make up SHAPE=monolith` runs it (acme_platform.allinone: storefront,
    backoffice and fulfillment's consumer in one gunicorn, same worker count), its storefront at /storefront.
    Every mounted service connects as the storefront's login on the bench database, as L does (the bench
    database's roles come from the storefront's declarations); the consumer fulfils M's orders in-process,
    which is part of what this shape costs."""
    venv = stack.monolith_venv
    apps = {"storefront": "storefront.app:create_app", "backoffice": "backoffice.app:create_app",
            "fulfillment": "fulfillment.app:create_app"}
    env = _env(venv, stack.service_url, "monolith", "MONOLITH_PORT", port, {
        "ACME_ALLINONE_APPS": ",".join(f"{n}={f}" for n, f in apps.items()),
        **{f"ACME_ALLINONE_DATABASE_URL_{n.upper()}": stack.service_url for n in apps}})
    cmd = [str(venv / "bin" / "gunicorn"), "-c", str(ROOT / "deploy" / "monolith" / "gunicorn.conf.py"),
           "acme_platform.allinone:create_app()"]
    return Service("monolith", "M", cmd, ROOT, env, port, logs / "monolith.log")


def start(services: list[Service], timeout: float = 90) -> None:
    for svc in services:
        if port_in_use(svc.port):
            raise BenchError(f"port {svc.port} ({svc.name}) is in use: set BENCH_PORT_BASE to move the bench's ports (or unset it)")
    for svc in services:
        svc.proc = supervisor.start(svc.name, svc.cmd, cwd=svc.cwd, env=svc.env, log=svc.log)
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        for svc in list(pending):
            if svc.proc.poll() is not None:
                raise BenchError(f"{svc.name} exited with code {svc.proc.returncode}; see {svc.log}\n"
                                 + _tail(svc.log))
            if healthy(svc):
                pending.remove(svc)
        if pending and time.monotonic() > deadline:
            raise BenchError(f"{', '.join(s.name for s in pending)} did not answer /healthz within {timeout:.0f}s")
        time.sleep(0.2)


def healthy(svc: Service) -> bool:
    return stack_proc.http_get(f"{svc.url}/healthz", timeout=2)[0] == 200


def stop(services: list[Service]) -> None:
    """SIGTERM each service's process group, SIGKILL what is left after the grace period."""
    for svc in services:
        if svc.proc is not None and svc.proc.poll() is None:
            supervisor.stop_pid(svc.proc.pid, supervisor.start_time(svc.proc.pid), timeout=25)
            try:
                svc.proc.wait(timeout=5)  # reap it
            except subprocess.TimeoutExpired:
                pass


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
