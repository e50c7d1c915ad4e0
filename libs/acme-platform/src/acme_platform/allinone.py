"""The all-in-one deployable: several services' apps in ONE gunicorn process group.

The first shape of the approach this platform grew from: every service in one deployable on one
server, domains called in-process, requests forwarded by path prefix or host; split later by running
the same service packages on their own. Nothing of a service changes: each app is built by the
service's own factory, with its own settings (its own database login, name and version), registers
in the instance registry under its own name and serves its own /healthz, /readyz and /metrics.

Configured from the environment (the stack sets it, see deploy/README.md "make up SHAPE=monolith"):

  ACME_ALLINONE_APPS      "storefront=storefront.app:create_app,backoffice=backoffice.app:create_app,…"
  ACME_ALLINONE_ROUTING   "path" (default: /storefront/v1/… reaches storefront's /v1/…) or "host"
  ACME_ALLINONE_HOSTS     host routing: "shop.example.com=storefront,…" (default "<service>.localhost")
  ACME_ALLINONE_DATABASE_URL_<SERVICE>   each service's own login (least privilege holds per service)

A service may run work beside its HTTP side in each worker (fulfillment's consumer): it names a module
with start_in(app) and stop_in(app, timeout) under the entry point group `acme.worker_hooks`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import Any, Callable, Iterable, MutableMapping

from werkzeug.middleware.dispatcher import DispatcherMiddleware

from .config import load_settings
from .devmode import running_version
from .errors import ConfigError

WORKER_HOOKS_GROUP = "acme.worker_hooks"
ROUTINGS = ("path", "host")


@dataclass(frozen=True)
class Mounted:
    name: str       # the service name ("storefront")
    factory: str    # "storefront.app:create_app"


def parse_apps(raw: str) -> list[Mounted]:
    mounted = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, factory = item.partition("=")
        if not sep or ":" not in factory or not name.strip().isidentifier():
            raise ConfigError("ACME_ALLINONE_APPS", f"expects name=module:factory items (got {item!r})")
        mounted.append(Mounted(name.strip(), factory.strip().removesuffix("()")))
    if not mounted:
        raise ConfigError("ACME_ALLINONE_APPS", "names no service")
    names = [m.name for m in mounted]
    if len(set(names)) != len(names):
        raise ConfigError("ACME_ALLINONE_APPS", f"names a service twice ({', '.join(names)})")
    return mounted


def parse_hosts(raw: str, names: Iterable[str]) -> dict[str, str]:
    names = list(names)
    if not raw.strip():
        return {f"{name}.localhost": name for name in names}
    hosts = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        host, sep, name = item.partition("=")
        if not sep or name.strip() not in names:
            raise ConfigError("ACME_ALLINONE_HOSTS", f"expects host=service items for {', '.join(names)} "
                                                     f"(got {item!r})")
        hosts[host.strip().lower()] = name.strip()
    return hosts


def _distribution_of(factory: str) -> str:
    """The service's distribution: the one declaring its access (entry point group `acme.services`)."""
    top = factory.split(":", 1)[0].split(".", 1)[0]
    dists = sorted({ep.dist.name for ep in metadata.entry_points(group="acme.services")
                    if ep.dist is not None and ep.module.split(".", 1)[0] == top})
    return dists[0] if dists else top


def build_service(mounted: Mounted, environ: MutableMapping[str, str]):
    """One service's app, by its own factory, with the settings it would have in a process of its own."""
    key = f"ACME_ALLINONE_DATABASE_URL_{mounted.name.upper()}"
    env = dict(environ)
    env["DATABASE_URL"] = environ.get(key) or environ.get("DATABASE_URL", "")
    if not env["DATABASE_URL"]:
        raise ConfigError(key, f"is required: the database login of {mounted.name}")
    env["ACME_SERVICE_NAME"] = mounted.name
    settings = load_settings(env, service_name=mounted.name,
                             service_version=running_version(_distribution_of(mounted.factory)))
    module, _, attr = mounted.factory.partition(":")
    factory: Callable[..., Any] = getattr(import_module(module), attr)
    return factory(settings)


def _problem(start_response, status: int, title: str, detail: str):
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    start_response(f"{status} {title}", [("Content-Type", "application/problem+json"),
                                         ("Content-Length", str(len(body)))])
    return [body]


class AllInOne:
    """The WSGI app of the deployable: routes each request to one service's app.

    `acme_apps` ({service: Flask app}) is what acme_platform.gunicorn_conf starts and stops per worker.
    Its own answers: GET /healthz (every service and its version) and a problem+json 404 elsewhere.
    """

    def __init__(self, apps: dict[str, Any], routing: str = "path", hosts: dict[str, str] | None = None):
        if routing not in ROUTINGS:
            raise ConfigError("ACME_ALLINONE_ROUTING", f"must be one of {', '.join(ROUTINGS)} (got {routing!r})")
        self.acme_apps = dict(apps)
        self.routing = routing
        self.hosts = hosts or {}
        self._paths = DispatcherMiddleware(self._root, {f"/{name}": app for name, app in self.acme_apps.items()})

    def __call__(self, environ, start_response):
        if self.routing == "path":
            return self._paths(environ, start_response)
        host = (environ.get("HTTP_HOST") or "").rsplit(":", 1)[0].lower()
        name = self.hosts.get(host)
        if name is None:
            return self._root(environ, start_response)
        return self.acme_apps[name](environ, start_response)

    def _root(self, environ, start_response):
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            body = json.dumps({"status": "ok", "services": {
                name: app.extensions["acme"].settings.service_version for name, app in self.acme_apps.items()}})
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body.encode()]
        where = (f"one of {', '.join('/' + n for n in self.acme_apps)}" if self.routing == "path"
                 else f"a Host of {', '.join(sorted(self.hosts))}")
        return _problem(start_response, 404, "Not Found", f"no service here: address {where}")


def create_app(environ: MutableMapping[str, str] | None = None) -> AllInOne:
    """gunicorn calls this with no arguments (everything from the environment)."""
    env = os.environ if environ is None else environ
    mounted = parse_apps(env.get("ACME_ALLINONE_APPS", ""))
    routing = (env.get("ACME_ALLINONE_ROUTING") or "path").strip()
    hosts = parse_hosts(env.get("ACME_ALLINONE_HOSTS", ""), [m.name for m in mounted])
    return AllInOne({m.name: build_service(m, env) for m in mounted}, routing, hosts)


def worker_hooks() -> dict[str, Any]:
    """{service: module with start_in/stop_in} declared by the installed services."""
    return {ep.name: ep.load() for ep in metadata.entry_points(group=WORKER_HOOKS_GROUP)}


def configure(namespace: MutableMapping[str, Any], *, port_env: str = "MONOLITH_PORT",
              default_port: int = 8005) -> None:
    """gunicorn.conf.py of the deployable: the platform's settings, then each service's worker hooks
    (started after the platforms' own per-worker start, stopped before their stop)."""
    from .gunicorn_conf import configure as platform_configure

    platform_configure(namespace, port_env=port_env, default_port=default_port)
    namespace["proc_name"] = os.environ.get("ACME_SERVICE_NAME") or "allinone"
    platform_post_worker_init = namespace["post_worker_init"]
    platform_worker_exit = namespace["worker_exit"]
    graceful = float(namespace.get("graceful_timeout") or 20)

    def post_worker_init(worker) -> None:
        platform_post_worker_init(worker)
        hooks = worker_hooks()
        for name, app in getattr(worker.wsgi, "acme_apps", {}).items():
            if name in hooks:
                hooks[name].start_in(app)

    def worker_exit(server, worker) -> None:
        hooks = worker_hooks()
        for name, app in getattr(getattr(worker, "wsgi", None), "acme_apps", {}).items():
            if name in hooks:
                hooks[name].stop_in(app, timeout=max(graceful - 5, 1))
        platform_worker_exit(server, worker)

    namespace["post_worker_init"] = post_worker_init
    namespace["worker_exit"] = worker_exit
