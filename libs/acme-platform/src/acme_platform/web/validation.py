"""Request validation and the OpenAPI document from the same pydantic models, through spectree.

Spectree validates bodies/queries against pydantic models and renders /openapi.json from them; we
only adapt its failures to problem+json (naming the field) instead of its own error format.
"""
from __future__ import annotations

from typing import Annotated, Any

from flask import Flask, jsonify, request
from pydantic import AfterValidator
from spectree import SpecTree

from .problems import ProblemException, problem, validation_problem


def _before(req, resp, req_validation_error, instance, *args, **kwargs):  # noqa: ARG001
    if req_validation_error is None:
        return
    if req.method not in ("GET", "HEAD", "DELETE") and req.get_data(cache=True):
        if req.get_json(silent=True) is None:
            raise ProblemException(problem(422 if req.is_json else 415,
                                           "Invalid request" if req.is_json else "Unsupported media type",
                                           "the request body is not valid JSON" if req.is_json
                                           else "send the body as application/json",
                                           code="request.malformed_json" if req.is_json else "request.media_type",
                                           field="body"))
    raise ProblemException(validation_problem(req_validation_error))


def _after(req, resp, resp_validation_error, instance, *args, **kwargs):  # noqa: ARG001
    return None


def make_spec(app: Flask, *, title: str, version: str, description: str | None = None,  # noqa: ARG001 - public signature; the app is not needed yet
              security_schemes: list | None = None) -> SpecTree:
    extra = {"security_schemes": security_schemes} if security_schemes else {}
    spec = SpecTree(
        "flask",
        title=title,
        version=version,
        description=description,
        before=_before,
        after=_after,
        validation_error_status=422,
        annotations=True,
        path="apidoc",
        **extra,
    )
    return spec


def serve_openapi(app: Flask, spec: SpecTree) -> None:
    """Register spectree on the app and serve its document at the conventional /openapi.json."""
    spec.register(app)

    @app.get("/openapi.json")
    def openapi_json():
        return jsonify(spec.spec)


def json_body_required() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ProblemException(problem(422, "Invalid request", "the body must be a JSON object",
                                       code="request.malformed_json", field="body"))
    return data


def storable(value: str) -> str:
    """Postgres text cannot hold NUL, and a lone surrogate (legal in JSON as "\\ud800") cannot be
    encoded to UTF-8: either would fail inside the driver as a 500 instead of a 422 naming the field."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


StorableStr = Annotated[str, AfterValidator(storable)]
