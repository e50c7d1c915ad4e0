"""Gaps between spectree and "every bad request is a 4xx problem naming the field"."""
from __future__ import annotations

from typing import TypeVar

from acme_platform.web import ProblemException, problem
from flask import request
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def json_body(parsed: M | None, model: type[M]) -> M:
    """The validated body. spectree hands the view None (not a validation error) when the request is
    form-encoded. The platform already answers 415 to a non-empty non-JSON body; what is left is an
    *empty* form-encoded request (`curl -X PATCH -d ''`), which gets the 422 an empty JSON body
    gets instead of an AttributeError (a 500)."""
    if parsed is not None:
        return parsed
    if request.get_data(cache=True):
        raise ProblemException(problem(415, "Unsupported media type", "send the body as application/json",
                                       code="request.media_type", field="body"))
    return model.model_validate({})  # no body at all: the usual 422 naming the first missing field
