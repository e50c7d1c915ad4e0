"""The backoffice app: the platform's app factory plus the staff blueprints."""
from __future__ import annotations

from acme_platform import Settings
from acme_platform.web import create_app as platform_app
from acme_platform.web import make_spec, serve_openapi
from flask import Flask

from . import __version__
from .auth import BEARER_SCHEME
from .api import customers, ledger, orders, products, status, tokens
from .console import blueprints as console_blueprints

SERVICE = "backoffice"
DOMAINS = ["identity", "catalog", "billing", "orders"]


def create_app(settings: Settings | None = None, *, json_logs: bool = True) -> Flask:
    """gunicorn calls this with no arguments (settings from the environment); tests pass Settings."""
    app = platform_app(__name__, service_name=SERVICE, service_version=__version__, domains=DOMAINS,
                       settings=settings, json_logs=json_logs)
    spec = make_spec(app, title="Acme backoffice", version=__version__,
                     description="Staff API. Every endpoint except POST /v1/tokens needs a staff bearer token.",
                     security_schemes=[BEARER_SCHEME])
    for bp in (*tokens.blueprint(spec), products.blueprint(spec), customers.blueprint(spec),
               orders.blueprint(spec), ledger.blueprint(spec), status.blueprint(spec)):
        app.register_blueprint(bp)
    for bp in console_blueprints():   # the operator console (HTML for browsers, JSON twins): not in the API document
        app.register_blueprint(bp)
    serve_openapi(app, spec)  # after the routes: spectree documents what is registered
    return app
