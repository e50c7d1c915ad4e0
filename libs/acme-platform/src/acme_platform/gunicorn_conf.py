"""Shared gunicorn settings, so a service's gunicorn.conf.py is two lines:

    from acme_platform.gunicorn_conf import configure
    configure(globals(), port_env="STOREFRONT_PORT", default_port=8001)

Every knob comes from the environment (documented in the README) with production defaults.
"""
from __future__ import annotations

import glob
import importlib
import os
import shutil
import tempfile
from typing import Any, MutableMapping

from . import gunicorn_errors
from .gevent_compat import ensure_cooperative_waits


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer (got {raw!r})") from None


# make dev (ACME_WEB_RELOAD=1). A watcher in the master polls the working-tree sources of the editable
# installs and, on a save, has the master reload (what SIGHUP does): gunicorn starts fresh workers and
# retires the old ones without waiting for their shutdown (gunicorn's own --reload exits a worker first
# and only then starts its replacement, seconds later). What a fresh worker would import again on every
# save is imported once here, in the master, after gevent's patching as the workers would (patching
# after these imports costs a worker ~2 s): it inherits them through fork and imports only the
# working-tree code, ~2 s instead of ~10 s on a loaded 2-core machine.
DEV_PRELOAD = ("flask", "werkzeug", "sqlalchemy", "sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "psycopg",
               "pydantic", "pydantic.networks", "pydantic.types", "pydantic.fields", "annotated_types", "spectree",
               "alembic", "alembic.config", "alembic.script", "alembic.runtime.migration", "prometheus_client",
               "prometheus_client.multiprocess", "pythonjsonlogger.json", "argon2", "packaging.version")


def _preload_for_reload() -> None:
    from gevent import monkey

    monkey.patch_all()
    for name in DEV_PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # not every service installs every one of them


def _watch_sources(server) -> None:
    import signal

    import gevent

    from .devmode import SourceWatcher

    master = os.getpid()

    def changed(path: str) -> None:
        server.log.info("make dev: %s changed; starting fresh workers", path)
        # The arbiter's own signal handler, called directly: in a gevent-patched master a real SIGHUP
        # is only handled when the master's loop next wakes up, seconds later.
        server.signal(signal.SIGHUP, None)

    watcher = SourceWatcher(changed)
    # A greenlet (the master is patched): it is copied into every forked worker, where it ends at once.
    gevent.spawn(watcher.run, lambda: os.getpid() == master)
    server.log.info("make dev: watching %d working-tree folder(s) for changes", len(watcher.roots))


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SystemExit(f"{name} must be 1 or 0 (got {raw!r})")


def post_worker_init(worker) -> None:
    # Covers --preload and any import order that loaded psycopg before the worker patched.
    ensure_cooperative_waits()
    for acme in _platforms_of(worker):
        acme.start_process()


def worker_exit(server, worker) -> None:  # noqa: ARG001
    # A clean shutdown deregisters at once instead of lingering until the heartbeat goes stale.
    for acme in _platforms_of(worker):
        acme.stop_process()


def child_exit(server, worker) -> None:  # noqa: ARG001
    # Live-process gauges of a dead worker must stop counting; its counters keep adding up.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


_MADE_METRICS_DIR: str | None = None


def _metrics_dir() -> tuple[str, bool]:
    """Where the workers' metric files go, and whether we made it (and so remove it at exit).

    Every worker is its own process with its own counters; without a shared directory a scrape of
    /metrics reads whichever worker answered. prometheus_client picks multiprocess mode from this
    variable when its first metric is created, so it is set here, in the master, before any worker
    imports the app. Files of an earlier run would be added in, so a given directory is emptied.
    """
    global _MADE_METRICS_DIR
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and path == _MADE_METRICS_DIR:
        return path, True   # the config read again (SIGHUP, make dev): our own directory, workers still write
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
        return path, False
    path = tempfile.mkdtemp(prefix="acme-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    _MADE_METRICS_DIR = path
    return path, True


def _platforms_of(worker) -> list:
    """The platform of each service app the worker serves: one, or several in the all-in-one
    deployable (acme_platform.allinone), whose WSGI app lists its services' apps in `acme_apps`."""
    app = getattr(worker, "wsgi", None)
    apps = list(getattr(app, "acme_apps", {}).values()) or [app]
    found = []
    for each in apps:
        extensions = getattr(each, "extensions", None)
        if isinstance(extensions, dict) and extensions.get("acme") is not None:
            found.append(extensions["acme"])
    return found


def _refuse_oversubscription(workers: int) -> None:
    """In the master, before any worker connects: a deployment that would open more connections than its
    role may refuses to start, with the numbers (acme_platform.budget). Nothing to check for an app without
    an installed declaration; a bad setting is left to the app's own start, which names it."""
    from . import budget
    from .config import load_settings
    from .errors import ConfigError

    try:
        settings = load_settings()
        limit = budget.declared_limit(settings.service_name)
        if limit is None:
            return
        demand = budget.service_demand(settings, limit, {**os.environ, "ACME_WEB_WORKERS": str(workers)})
    except ConfigError:
        return
    problem = budget.refusal(demand, None)
    if problem:
        raise SystemExit(f"{settings.service_name} refuses to start: {problem}")


def configure(namespace: MutableMapping[str, Any], *, port_env: str, default_port: int) -> None:
    host = os.environ.get("ACME_BIND_HOST", "127.0.0.1")
    workers = _int("ACME_WEB_WORKERS", 2)

    def on_starting(server) -> None:
        # The final worker count (a service's conf may pin it after configure(), as fulfillment does).
        _refuse_oversubscription(server.cfg.workers)

    dev_reload = _flag("ACME_WEB_RELOAD")
    if dev_reload:
        _preload_for_reload()
    metrics_dir, made_it = _metrics_dir()
    gunicorn_errors.install()   # in the master, so every forked worker answers refusals as problem+json

    def on_exit(server) -> None:  # noqa: ARG001
        if made_it:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    namespace.update(
        bind=[f"{host}:{_int(port_env, default_port)}"],
        worker_class="gevent",
        workers=workers,
        worker_connections=_int("ACME_WEB_WORKER_CONNECTIONS", 200),
        timeout=_int("ACME_WEB_TIMEOUT", 30),
        graceful_timeout=_int("ACME_WEB_GRACEFUL_TIMEOUT", 20),
        keepalive=_int("ACME_WEB_KEEPALIVE", 5),
        # One gunicorn per service on a host: a shared default control socket path would collide.
        control_socket_disable=True,
        accesslog=None,  # the app logs each request as JSON with its request id
        errorlog="-",
        on_starting=on_starting,
        post_worker_init=post_worker_init,
        worker_exit=worker_exit,
        child_exit=child_exit,
        on_exit=on_exit,
        proc_name=os.environ.get("ACME_SERVICE_NAME"),
        # make dev: a worker whose loaded modules (editable libraries and service included) change on
        # disk exits and the master starts a fresh one, so a saved edit serves within seconds.
        **({"when_ready": _watch_sources} if dev_reload else {}),
    )
