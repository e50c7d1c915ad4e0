"""The storefront app factory: the platform's Flask app plus the storefront's blueprints."""
from __future__ import annotations

from flask import Flask

from acme_platform import Settings
from acme_platform.web import create_app as create_platform_app
from acme_platform.web import make_spec, serve_openapi

from . import __version__
from .auth import BEARER_SCHEME
from .api import customers, orders, products, tokens, wallet

SERVICE_NAME = "storefront"
# Readiness (/readyz) checks these schemas are migrated; the platform adds their dependencies.
DOMAINS = ["identity", "catalog", "billing", "orders"]


def create_app(settings: Settings | None = None) -> Flask:
    """gunicorn calls this with no arguments (settings from the environment); tests pass Settings."""
    app = create_platform_app(__name__, service_name=SERVICE_NAME, service_version=__version__,
                              domains=DOMAINS, settings=settings)
    spec = make_spec(app, title="Acme storefront", version=__version__,
                     description="Customer API: sign up, log in, browse products, pay from a wallet, order.",
                     security_schemes=[BEARER_SCHEME])
    for module in (customers, tokens, products, wallet, orders):
        app.register_blueprint(module.blueprint(spec))
    serve_openapi(app, spec)
    return app
