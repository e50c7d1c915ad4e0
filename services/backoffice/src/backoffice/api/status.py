"""Platform status for staff: live instances × library versions × schema revisions, and version skew.

The same report as `acmectl status` (acme_platform.status), as a small HTML page people can look at,
and as JSON for scripts.
"""
from __future__ import annotations

from acme_platform.status import collect_status, render_html
from acme_platform.web import platform
from flask import Blueprint, Response, jsonify

from ..auth import staff_required


def blueprint(spec) -> Blueprint:  # noqa: ARG001 - not part of the JSON API document
    bp = Blueprint("status", __name__)

    @bp.get("/status")
    @staff_required
    def status_page():
        report = collect_status(platform().settings.database_url)
        return Response(render_html(report), mimetype="text/html")

    @bp.get("/v1/status")
    @staff_required
    def status_json():
        return jsonify(collect_status(platform().settings.database_url))

    return bp
