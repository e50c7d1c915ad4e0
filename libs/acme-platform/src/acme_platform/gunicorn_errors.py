"""problem+json for the requests gunicorn itself refuses (a 414 URI, a malformed header line).

They never reach Flask, so the app's error handlers cannot answer them, and gunicorn writes an HTML
page. Every other 4xx of a service is application/problem+json naming the offending part; a client
should not need a second error parser for these. gunicorn has no hook for this body: its workers call
`gunicorn.util.write_error`, which we replace (signature tested against the pinned gunicorn).
"""
from __future__ import annotations

import json

# What part of the request each refusal is about, from gunicorn's message (it passes no error type).
_FIELDS = (
    ("invalid request line", "request_line"),
    ("invalid method", "method"),
    ("invalid http version", "http_version"),
    ("chunk", "body"),
    ("header", "headers"),
    ("transfer", "headers"),
    ("expect", "headers"),
)


def field_of(status: int, message: str) -> str | None:
    if status == 414:
        return "url"
    if status == 431:
        return "headers"
    lowered = message.lower()
    for needle, field in _FIELDS:
        if needle in lowered:
            return field
    return None


def problem_bytes(status: int, reason: str, message: str) -> bytes:
    body = {"type": "about:blank", "title": reason, "status": status, "detail": message or reason}
    field = field_of(status, message) if status < 500 else None
    if field is not None:
        body["field"] = field
    payload = json.dumps(body).encode("ascii")   # ensure_ascii: whatever bytes the client sent
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode("latin-1") + payload


def write_problem(sock, status_int, reason, mesg) -> None:
    from gunicorn.util import write_nonblock

    write_nonblock(sock, problem_bytes(int(status_int), str(reason), str(mesg or "")))


def install() -> None:
    import gunicorn.util

    gunicorn.util.write_error = write_problem
