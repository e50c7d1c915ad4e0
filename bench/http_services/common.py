"""What every H-mode service shares: the platform app, a pooled keep-alive HTTP client, and remote auth.

H services are built on the same `acme_platform.web.create_app` as the storefront (request unit of
work, problem+json, JSON access log, metrics), so H and L differ only in the architecture under
test: HTTP hops and per-hop token verification, and no transaction across services.
"""
from __future__ import annotations

import os

import requests
from acme_platform import Forbidden, Principal, Unauthenticated
from acme_platform.web import ProblemException, create_app, platform
from flask import Flask, Response, request
from requests.adapters import HTTPAdapter

TIMEOUT = (2.0, 15.0)   # connect, read (seconds)


def make_app(import_name: str, name: str, domains: list[str]) -> Flask:
    return create_app(import_name, service_name=f"bench-h-{name}", service_version="bench", domains=domains)


def _new_session(_platform) -> requests.Session:
    # One keep-alive pool per process and host; gunicorn's gevent worker makes the sockets cooperative.
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=int(os.environ.get("BENCH_HTTP_POOL", "64")))
    session.mount("http://", adapter)
    return session


def http() -> requests.Session:
    return platform().per_process("bench.http", _new_session)


def url(service: str, path: str) -> str:
    return os.environ[f"BENCH_{service.upper()}_URL"].rstrip("/") + path


def forward_headers() -> dict[str, str]:
    headers = {"Authorization": request.headers.get("Authorization", "")}
    rid = getattr(request, "request_id", None)
    if rid:
        headers["X-Request-Id"] = rid
    return headers


def call(method: str, service: str, path: str, *, json=None) -> dict:
    """Call another service with the caller's credentials; a problem response is passed through as is."""
    response = http().request(method, url(service, path), json=json, headers=forward_headers(), timeout=TIMEOUT)
    if response.status_code >= 400:
        raise ProblemException(Response(response.content, status=response.status_code,
                                        mimetype=response.headers.get("Content-Type", "application/problem+json")))
    return response.json()


def principal_from(data: dict) -> Principal:
    return Principal(subject_id=data["subject_id"], kind=data["kind"], scopes=frozenset(data["scopes"]),
                     token_id=data.get("token_id"), email=data.get("email"))


def principal_json(p: Principal) -> dict:
    return {"subject_id": p.subject_id, "kind": p.kind, "scopes": sorted(p.scopes), "token_id": p.token_id,
            "email": p.email}


def verify_caller(scope: str | None = None) -> Principal:
    """Typical microservice auth: every service asks the identity service who the bearer token belongs to."""
    path = "/v1/principal" + (f"?scope={scope}" if scope else "")
    response = http().get(url("identity", path), headers=forward_headers(), timeout=TIMEOUT)
    if response.status_code == 401:
        raise Unauthenticated(response.json().get("detail"))
    if response.status_code == 403:
        raise Forbidden(response.json().get("detail"))
    if response.status_code != 200:
        raise ProblemException(Response(response.content, status=response.status_code,
                                        mimetype="application/problem+json"))
    return principal_from(response.json())


def product_json(p) -> dict:
    return {"sku": p.sku, "name": p.name, "description": p.description, "price_cents": p.price_cents,
            "currency": p.currency, "active": p.active, "on_hand": p.on_hand, "reserved": p.reserved,
            "version": p.version, "updated_at": p.updated_at.isoformat()}
