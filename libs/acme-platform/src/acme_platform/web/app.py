"""The app factory every service starts from."""
from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import threading
from importlib import metadata
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, jsonify, request

from ..config import Settings, load_settings
from ..db import Database
from ..devmode import DEV_SUFFIX, announce, editable_packages, warn_pending_migrations
from ..domains import DomainSpec, installed_domains
from ..events.listener import ChangeListener
from ..migrations.runner import pending_revisions
from ..migrations.skew import compatibility_problems
from ..registry import InstanceRegistration
from . import deadline, observability, tracing
from .forwarded import trusted_proxies
from .problems import problem, register_error_handlers
from .request_uow import EXTENSION, UnitOfWorkFlask


log = logging.getLogger(__name__)

_FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
ACCEPTS_FORMS_ATTR = "_acme_accepts_forms"


def accepts_forms(view):
    """Mark a view as a browser form handler: its POST may carry a form body (every other POST must
    be JSON). Only for views that check a CSRF token, since browsers send forms cross-site."""
    setattr(view, ACCEPTS_FORMS_ATTR, True)
    return view


@dataclass
class Platform:
    """What a service process holds: settings, database, its domains, and the change listener."""

    settings: Settings
    database: Database
    domains: list[DomainSpec]
    extensions: dict[str, Any] = field(default_factory=dict)
    # Consumer groups this service runs ({group: domains}): /readyz fails while one lags too far.
    consumer_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _listener: ChangeListener | None = None
    _listener_pid: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Set when this process found (at registration) an applied contract migration it cannot work with:
    # every request but /healthz answers 503 from then on.
    incompatible: list[str] = field(default_factory=list)

    @property
    def listener(self) -> ChangeListener:
        """Started lazily, per process: a thread started before gunicorn forks would not exist in the worker."""
        with self._lock:
            if self._listener is None or self._listener_pid != os.getpid():
                self._listener = ChangeListener(
                    self.settings.direct_url,   # LISTEN needs a session: never through the pooler
                    application_name=f"{self.settings.application_name}/listener"[:63],
                    ping_interval=self.settings.listener_ping_interval,
                    ping_timeout=self.settings.listener_ping_timeout,
                    max_entry_age=self.settings.cache_max_age,
                ).start()
                self._listener_pid = os.getpid()
            return self._listener

    def watch_consumer(self, group: str, topics) -> None:
        """Declare that this service runs consumer `group` over `topics`: its lag becomes part of /readyz
        (ACME_EVENTS_MAX_LAG_SECONDS). Declared by the app factory, so every worker's /readyz knows it."""
        self.consumer_groups[group] = tuple(sorted({t.split(".", 1)[0] for t in topics}))

    def start_process(self) -> None:
        """Per-process start: register this instance (heartbeats) and open the change listener.

        Called from gunicorn's post_worker_init (acme_platform.gunicorn_conf), never in a gunicorn
        master: threads do not survive fork. A Flask test client never registers.
        """
        registration = self.per_process("registration", lambda p: InstanceRegistration(
            p.database, service=p.settings.service_name, service_version=p.settings.service_version,
            domains=p.domains, on_incompatible=p._stop_serving,
        ).start())
        atexit.register(registration.deregister)
        self.listener  # noqa: B018 - starts it

    def _stop_serving(self, problems: list[str]) -> None:
        self.incompatible = list(problems)

    def stop_process(self) -> None:
        registration = self.extensions.get(("registration", os.getpid()))
        if registration is not None:
            registration.deregister()
        if self._listener is not None and self._listener_pid == os.getpid():
            self._listener.stop()

    def per_process(self, name: str, factory):
        """A per-process singleton (an authenticator, a cache) built on first use in this process.

        Objects holding threads or the listener must not be created in a gunicorn master and
        inherited by forked workers, where the thread does not exist.
        """
        key = (name, os.getpid())
        with self._lock:
            value = self.extensions.get(key)
        if value is None:
            value = factory(self)
            with self._lock:
                value = self.extensions.setdefault(key, value)
        return value

    def close(self) -> None:
        if self._listener is not None and self._listener_pid == os.getpid():
            self._listener.stop()
        self.database.dispose()


def platform() -> Platform:
    return current_app.extensions[EXTENSION]


def create_app(
    import_name: str,
    *,
    service_name: str,
    service_version: str,
    domains: list[str] | None = None,
    settings: Settings | None = None,
    json_logs: bool = True,
) -> Flask:
    """A Flask app wired for Acme: per-request unit of work, problem+json errors, request ids,
    JSON logs, /healthz, /readyz (DB reachable and migrated for `domains`) and /metrics."""
    settings = settings or load_settings(service_name=service_name, service_version=service_version)
    if json_logs:
        observability.configure_json_logging(settings.service_name)
    app = UnitOfWorkFlask(import_name)
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = 1 * 1024 * 1024
    trusted_proxies()  # a bad ACME_TRUSTED_PROXIES fails the start, not the first login
    specs = installed_domains(domains)
    # make dev: packages installed editable from the working tree are announced, in the log and /healthz.
    service_dists = _distributions_of(import_name)
    dev_packages = editable_packages([s.package for s in specs] + service_dists)
    if any(d in dev_packages for d in service_dists) and "+" not in settings.service_version:
        settings = dataclasses.replace(settings, service_version=settings.service_version + DEV_SUFFIX)
    announce(settings.service_name, dev_packages)
    tracing.configure_process(settings.service_name)
    acme = Platform(settings=settings, database=Database(settings), domains=specs)
    app.extensions[EXTENSION] = acme
    _refuse_incompatible_schema(acme)
    if dev_packages:
        _warn_pending_migrations(acme)
    register_error_handlers(app)
    observability.install(app, settings.service_name)
    tracing.instrument_app(app)
    deadline.install(app, acme.database.engine, deadline_ms=settings.request_deadline_ms,
                     statement_timeout_ms=settings.statement_timeout_ms)

    @app.before_request
    def _refuse_when_incompatible():
        # An instance that could not check at start (database down) checks when it first registers;
        # if a contract migration it cannot work with was applied meanwhile, it stops serving.
        if acme.incompatible and request.path != "/healthz":
            return problem(503, "Incompatible schema", acme.incompatible[0], code="platform.incompatible_schema")

    @app.before_request
    def _bodies_are_json():
        # Our APIs speak JSON only. Refusing other bodies here keeps a form post from reaching a view
        # whose validator skipped it (spectree validates JSON bodies only).
        if request.method not in ("POST", "PUT", "PATCH"):
            return None
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        if getattr(view, ACCEPTS_FORMS_ATTR, False):
            return None   # a browser form (the backoffice console): the view checks its CSRF token itself
        if request.mimetype in _FORM_MIMETYPES:
            # Even empty: spectree hands a view None instead of a validation error for form posts.
            return problem(415, "Unsupported media type", "send the body as application/json",
                           code="request.media_type", field="body")
        if request.content_length:
            if not request.is_json:
                return problem(415, "Unsupported media type", "send the body as application/json",
                               code="request.media_type", field="body")
            try:
                request.get_json(silent=True)  # parsed once here and cached for the view's validator
            except RecursionError:
                return problem(422, "Invalid request", "the JSON body nests too deeply",
                               code="request.malformed_json", field="body")

    @app.get("/healthz")
    def healthz():
        body = dict(status="ok", service=settings.service_name, version=settings.service_version)
        if dev_packages:
            body.update(dev=True, dev_packages=dev_packages)
        return jsonify(body)

    @app.get("/readyz")
    def readyz():
        try:
            with platform().database.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                incompatible = compatibility_problems(conn, specs)
                missing = pending_revisions(conn, specs)
                lagging = [] if (incompatible or missing) else _lagging_consumers(conn, platform())
        except sa.exc.SQLAlchemyError as exc:
            # The driver's text names the login, host and port: the operator's log gets it, an
            # unauthenticated caller only learns which dependency failed.
            log.warning("readyz: database unreachable: %s", str(exc).splitlines()[0])
            return problem(503, "Not ready", "database unreachable", code="platform.not_ready",
                           dependency="database")
        if incompatible:
            return problem(503, "Not ready", incompatible[0], code="platform.incompatible_schema")
        if missing:
            first = next(iter(missing))
            return problem(503, "Not ready", f"migrations pending: {missing[first]}",
                           code="platform.migrations_pending", domain=first, pending=missing)
        if lagging:
            worst = lagging[0]
            return problem(503, "Not ready", worst.describe(), code="platform.consumer_lagging",
                           group=worst.group, domain=worst.domain, events_behind=worst.events,
                           seconds_behind=round(worst.seconds, 1))
        return jsonify(status="ready", domains={s.name: s.version for s in specs})

    return app


def _distributions_of(import_name: str) -> list[str]:
    """The installed distribution(s) of the service whose app this is: the ones declaring its access
    (entry point group `acme.services`) from the app's top-level package. (packages_distributions() cannot
    say: an editable install's RECORD lists a .pth file, not the package.)"""
    top = import_name.split(".", 1)[0]
    return sorted({ep.dist.name for ep in metadata.entry_points(group="acme.services")
                   if ep.dist is not None and ep.module.split(".", 1)[0] == top})


def _lagging_consumers(conn: sa.Connection, acme: Platform) -> list:
    """Consumer groups of this service whose oldest unhandled event is older than the threshold."""
    from ..events.lag import group_lag

    limit = acme.settings.events_max_lag_seconds
    lagging = [lag for group, domains in sorted(acme.consumer_groups.items())
               for lag in group_lag(conn, group, domains) if lag.seconds > limit]
    return sorted(lagging, key=lambda lag: -lag.seconds)


def _warn_pending_migrations(acme: Platform) -> None:
    try:
        with acme.database.engine.connect() as conn:
            warn_pending_migrations(acme.settings.service_name, pending_revisions(conn, acme.domains))
    except sa.exc.SQLAlchemyError:
        pass  # database unreachable: /readyz reports it


class IncompatibleSchemaError(RuntimeError):
    """The database has a contract migration this service's library version cannot work with."""


def _refuse_incompatible_schema(acme: Platform) -> None:
    try:
        with acme.database.engine.connect() as conn:
            problems = compatibility_problems(conn, acme.domains)
    except sa.exc.OperationalError:
        return  # database unreachable: /readyz reports it; the check runs again there
    if problems:
        raise IncompatibleSchemaError(
            f"{acme.settings.service_name} refuses to start: " + "; ".join(problems))
