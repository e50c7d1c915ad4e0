"""Shared gunicorn settings, so a service's gunicorn.conf.py is two lines:

    from acme_platform.gunicorn_conf import configure
    configure(globals(), port_env="STOREFRONT_PORT", default_port=8001)

Every knob comes from the environment (documented in the README) with production defaults.
"""
from __future__ import annotations

import os
from typing import Any, MutableMapping

from .gevent_compat import ensure_cooperative_waits


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer (got {raw!r})") from None


def post_worker_init(worker) -> None:
    # Covers --preload and any import order that loaded psycopg before the worker patched.
    ensure_cooperative_waits()
    acme = _platform_of(worker)
    if acme is not None:
        acme.start_process()


def worker_exit(server, worker) -> None:  # noqa: ARG001
    # A clean shutdown deregisters at once instead of lingering until the heartbeat goes stale.
    acme = _platform_of(worker)
    if acme is not None:
        acme.stop_process()


def _platform_of(worker):
    app = getattr(worker, "wsgi", None)
    extensions = getattr(app, "extensions", None)
    return extensions.get("acme") if isinstance(extensions, dict) else None


def configure(namespace: MutableMapping[str, Any], *, port_env: str, default_port: int) -> None:
    host = os.environ.get("ACME_BIND_HOST", "127.0.0.1")
    namespace.update(
        bind=[f"{host}:{_int(port_env, default_port)}"],
        worker_class="gevent",
        workers=_int("ACME_WEB_WORKERS", 2),
        worker_connections=_int("ACME_WEB_WORKER_CONNECTIONS", 200),
        timeout=_int("ACME_WEB_TIMEOUT", 30),
        graceful_timeout=_int("ACME_WEB_GRACEFUL_TIMEOUT", 20),
        keepalive=_int("ACME_WEB_KEEPALIVE", 5),
        # One gunicorn per service on a host: a shared default control socket path would collide.
        control_socket_disable=True,
        accesslog=None,  # the app logs each request as JSON with its request id
        errorlog="-",
        post_worker_init=post_worker_init,
        worker_exit=worker_exit,
        proc_name=os.environ.get("ACME_SERVICE_NAME"),
    )
