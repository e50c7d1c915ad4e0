"""`make up SHAPE=monolith`: storefront, backoffice and fulfillment's consumer in ONE gunicorn.

Built from the same service packages at the same pins as the separate shape: the venv
`.run/venvs/monolith` is the union of the services' requirements.lock files (hash-checked, from the
private index), plus each service package without deps. The union is only defined when the locks
agree: a package pinned at two versions refuses the build with one line naming it and the pins.

The process runs acme_platform.allinone (see its docstring): path routing by default
(`http://127.0.0.1:8005/storefront/v1/...`), ACME_ALLINONE_ROUTING=host for host routing. Each
service keeps its own database login, registry entry, /healthz, /readyz and /metrics.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import config, fingerprint, lockfile, projects, proc, services, supervisor, venvs
from .config import BIND_HOST, Layout
from .index import Index
from .ui import StackError, tail

NAME = "monolith"
PORT_ENV = "MONOLITH_PORT"
DEFAULT_PORT = 8005
GUNICORN_CONF = Path(__file__).resolve().parents[1] / "monolith" / "gunicorn.conf.py"


def merged_lock(svcs: list[projects.Project]) -> str:
    """The union of the services' locks; StackError (one line) if two of them pin one package differently."""
    pins: dict[str, dict[str, str]] = {}   # package -> {service: version}
    chosen: dict[str, lockfile.Block] = {}
    for svc in svcs:
        for block in lockfile.blocks(venvs.checked_lock(svc).read_text()):
            pins.setdefault(block.name, {})[svc.dirname] = block.version
            if block.name in chosen:
                # Same version: the union of the hashes (each lock lists the files its resolver saw).
                known = chosen[block.name]
                extra = [h for h in block.hashes if h not in known.hashes]
                known.lines[1:1] = [f"    --hash={h} \\" for h in extra]
            else:
                chosen[block.name] = block
    for name, by_service in sorted(pins.items(), key=lambda kv: (not kv[0].startswith("acme-"), kv[0])):
        if len(set(by_service.values())) > 1:
            listed = ", ".join(f"{svc} pins {version}" for svc, version in sorted(by_service.items()))
            raise StackError(f"cannot build the all-in-one: the services pin different versions of {name} "
                             f"({listed}); make bump them to one version first")
    return lockfile.render(list(chosen.values()),
                           f"# union of {', '.join(f'services/{s.dirname}/requirements.lock' for s in svcs)}\n")


def ensure_venv(layout: Layout, svcs: list[projects.Project], idx: Index, log: Path) -> tuple[Path, str]:
    venv = layout.venvs / NAME
    lock_text = merged_lock(svcs)
    want = fingerprint.sha256_text(lock_text, *(venvs.service_fingerprint(layout, s) for s in svcs),
                                   sys.version, sys.executable)
    if venvs.stamp(venv) == want and venvs.py(venv).exists():
        return venv, "already up, nothing to do"
    venvs.create(layout, venv, log)
    lock = venv / "requirements.lock"
    lock.write_text(lock_text)
    venvs.uv(layout, "pip", "sync", "--no-config", "--python", venvs.py(venv), "--require-hashes", lock,
             log=log, what="installing the union of the services' locks", idx=idx)
    venvs.pip_install(layout, venv, idx, ["--no-deps", *(a for s in svcs for a in ("--reinstall-package", s.name)),
                                          *(s.path for s in svcs)], log=log, what="installing the services")
    venvs.write_stamp(venv, want)
    return venv, f"installed ({', '.join(s.dirname for s in svcs)} at their locked pins)"


def app_factory(svc: projects.Project) -> str:
    """`storefront.app:create_app` from the service's declared gunicorn command."""
    target = projects.service_spec(svc)["command"][-1]
    if ":" not in target:
        raise StackError(f"services/{svc.dirname}: the last word of [tool.acme.service] command should be the "
                         f"app (module:factory()), got {target!r}")
    return target.removesuffix("()")


def env(venv: Path, svcs: list[projects.Project], logins: dict[str, str], port: int,
        index_url: str = "") -> dict[str, str]:
    extra = {
        # The backoffice console's Dependencies page reads the index, as in the separate shape
        # (services.INDEX_READERS); in one process every mounted service sees the variable.
        **({"ACME_CONSOLE_INDEX_URL": index_url}
           if index_url and any(s.dirname in services.INDEX_READERS for s in svcs) else {}),
        "ACME_SERVICE_NAME": NAME,
        "ACME_ALLINONE_APPS": ",".join(f"{s.dirname}={app_factory(s)}" for s in svcs),
        PORT_ENV: str(port),
        "ACME_BIND_HOST": BIND_HOST,
        "ACME_BIND": f"{BIND_HOST}:{port}",
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for var in ("ACME_ALLINONE_ROUTING", "ACME_ALLINONE_HOSTS"):
        if os.environ.get(var):
            extra[var] = os.environ[var]
    extra.update({f"ACME_ALLINONE_DATABASE_URL_{name.upper()}": url for name, url in logins.items()})
    return proc.isolated_env(extra, drop=("DATABASE_URL",))


def command(venv: Path) -> list[str]:
    return [str(venv / "bin" / "gunicorn"), "-c", str(GUNICORN_CONF), "acme_platform.allinone:create_app()"]


def healthy(port: int, svcs: list[projects.Project]) -> bool:
    return all(services.healthy(port, f"/{s.dirname}{projects.service_spec(s)['health_path']}") for s in svcs)


def ensure(layout: Layout, svcs: list[projects.Project], venv: Path, venv_fp: str, logins: dict[str, str],
           timeout: float = 120, index_url: str = "") -> services.Running:
    port = config.env_port(PORT_ENV, DEFAULT_PORT)
    cmd = command(venv)
    run_env = env(venv, svcs, logins, port, index_url)
    want = fingerprint.sha256_text(venv_fp, *cmd, str(port), *sorted(f"{k}={v}" for k, v in run_env.items()
                                                                    if k.startswith("ACME_")))
    url = f"http://{BIND_HOST}:{port}"
    log = layout.log(NAME)
    rec = supervisor.load(layout.pids, NAME)
    status = "started"
    if supervisor.alive(rec):
        if rec.fingerprint == want and healthy(port, svcs):
            return services.Running(NAME, url, rec.pid, log, "already up, nothing to do")
        supervisor.stop(layout.pids, NAME)
        status = "restarted (changed)"
    else:
        supervisor.forget(layout.pids, NAME)
    if proc.port_open(port):
        raise StackError(f"{NAME}: port {port} is already in use by another program (set {PORT_ENV})")
    child = supervisor.start(NAME, cmd, cwd=layout.root, env=run_env, log=log)
    supervisor.save(layout.pids, supervisor.Record(
        name=NAME, pid=child.pid, start_time=supervisor.start_time(child.pid) or 0, fingerprint=want, url=url,
        log=str(log), extra={"port": port, "kind": "service", "serves": [s.dirname for s in svcs]}))
    if not proc.wait_until(lambda: healthy(port, svcs), timeout, 0.3, abort=lambda: child.poll() is not None):
        died = child.poll() is not None
        supervisor.stop(layout.pids, NAME)
        why = f"exited with code {child.returncode}" if died else f"did not answer every /<service>/healthz within {timeout:.0f}s"
        raise StackError(f"the all-in-one {why}", log, detail=tail(log, 30))
    return services.Running(NAME, url, child.pid, log, status)
