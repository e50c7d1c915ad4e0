"""The app factory: the platform's app plus /items over whichever acme-skewdemo release is installed."""
from __future__ import annotations

from importlib.metadata import version

from flask import Flask, jsonify, request

import acme_skewdemo
from acme_platform.web import create_app as create_platform_app
from acme_platform.web import current_uow

from . import __version__


def create_app() -> Flask:
    app = create_platform_app(__name__, service_name="skewsvc", service_version=__version__, domains=["skewdemo"])
    # In every response, so the drill sees which release answered.
    library = f"acme-skewdemo {version('acme-skewdemo')}"

    @app.get("/items")
    def list_items():
        items = acme_skewdemo.list_items(current_uow())
        return jsonify(library=library, items=[{"id": i.id, "title": i.title} for i in items])

    @app.post("/items")
    def add_item():
        body = request.get_json(silent=True)
        item = acme_skewdemo.add_item(current_uow(), body.get("title") if isinstance(body, dict) else None)
        return jsonify(library=library, id=item.id, title=item.title), 201

    return app
