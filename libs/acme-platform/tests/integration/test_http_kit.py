"""The HTTP kit services build on (acme_platform.web): BearerAuth with scopes, the request/query/response
bases, UtcDatetime and problems(), in a real app against a real Postgres.

The token verifier here is a dictionary: verifying tokens is the identity domain's job (acme_identity's
Authenticator, exercised by the services' suites); what is tested is the platform's side of it.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import Field
from spectree import Response

from acme_platform import Forbidden, Principal, Settings, Unauthenticated
from acme_platform.web import (CUSTOMER, STAFF, BearerAuth, Problem, QueryModel, RequestModel, ResponseModel,
                               UtcDatetime, create_app, make_spec, problems, serve_openapi)

TOKENS = {
    "c-token": Principal(subject_id="c1", kind="customer", scopes=frozenset({CUSTOMER}), token_id="t-c"),
    "s-token": Principal(subject_id="s1", kind="staff", scopes=frozenset({STAFF}), token_id="t-s"),
}


class DictVerifier:
    built = 0

    def __init__(self):
        DictVerifier.built += 1

    def authenticate(self, uow, token, *, required_scope=None):
        assert uow.connection is not None  # verified inside the request's unit of work
        principal = TOKENS.get(token)
        if principal is None:
            raise Unauthenticated("unknown token")
        if required_scope and not principal.has_scope(required_scope):
            raise Forbidden(f"needs the {required_scope} scope")
        return principal


class NoteIn(RequestModel):
    stars: int = Field(ge=0, le=5)


class NotesQuery(QueryModel):
    limit: int = Field(default=10, ge=1, le=100)


class NoteOut(ResponseModel):
    stars: int
    by: str
    at: UtcDatetime


@pytest.fixture
def client(make_database, domain_on_path):
    domain_on_path(revisions={})
    url = make_database()
    app = create_app(__name__, service_name="kittest", service_version="1.0.0", domains=["testdom"],
                     settings=Settings(database_url=url, service_name="kittest", service_version="1.0.0"),
                     json_logs=False)
    auth = BearerAuth(lambda platform: DictVerifier(), description="a test token")
    spec = make_spec(app, title="kittest", version="1.0.0", security_schemes=[auth.scheme])

    @app.post("/notes")
    @auth.required(CUSTOMER)
    @spec.validate(json=NoteIn, resp=Response(HTTP_201=NoteOut, **problems(401, 403, 422)), security=auth.security)
    def add_note(json: NoteIn, principal: Principal):
        at = datetime(2026, 12, 3, 12, 0, tzinfo=timezone(timedelta(hours=2)))
        return NoteOut(stars=json.stars, by=principal.subject_id, at=at).model_dump(mode="json"), 201

    @app.get("/notes")
    @auth.required(STAFF)
    @spec.validate(query=NotesQuery, resp=Response("HTTP_200", **problems(401, 403, 422)), security=auth.security)
    def list_notes(query: NotesQuery):  # no `principal` parameter: authenticated all the same
        return {"limit": query.limit}

    serve_openapi(app, spec)
    DictVerifier.built = 0
    with app.test_client() as c:
        yield c
    app.extensions["acme"].close()


def _problem(resp, status, code=None, field=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    if code:
        assert resp.json["code"] == code, resp.json
    if field:
        assert resp.json["field"] == field, resp.json
    return resp.json


def test_no_token_is_401_before_the_body_is_validated(client):
    _problem(client.post("/notes", json={"stars": "not even close", "extra": 1}), 401, "platform.unauthenticated")
    _problem(client.post("/notes", json={"stars": 1}, headers={"Authorization": "Basic abc"}), 401)
    _problem(client.post("/notes", json={"stars": 1}, headers={"Authorization": "Bearer nope"}), 401)


def test_a_token_without_the_scope_is_403(client):
    _problem(client.post("/notes", json={"stars": 1}, headers={"Authorization": "Bearer s-token"}), 403,
             "platform.forbidden")
    _problem(client.get("/notes", headers={"Authorization": "Bearer c-token"}), 403, "platform.forbidden")


def test_the_view_gets_the_principal_when_it_asks_for_it_and_times_leave_as_utc(client):
    resp = client.post("/notes", json={"stars": 4}, headers={"Authorization": "Bearer c-token"})
    assert resp.status_code == 201, resp.json
    assert resp.json == {"stars": 4, "by": "c1", "at": "2026-12-03T10:00:00Z"}
    resp = client.get("/notes?limit=5", headers={"Authorization": "Bearer s-token"})
    assert resp.status_code == 200 and resp.json == {"limit": 5}  # "5" from the query string coerced


def test_the_verifier_is_built_once_per_process(client):
    for _ in range(3):
        assert client.get("/notes", headers={"Authorization": "Bearer s-token"}).status_code == 200
    assert DictVerifier.built == 1


def test_request_bodies_are_strict_and_refuse_unknown_fields(client):
    auth = {"Authorization": "Bearer c-token"}
    _problem(client.post("/notes", json={"stars": "4"}, headers=auth), 422, field="stars")
    _problem(client.post("/notes", json={"stars": True}, headers=auth), 422, field="stars")
    _problem(client.post("/notes", json={"stars": 4, "starz": 5}, headers=auth), 422, field="starz")
    _problem(client.get("/notes?limit=5&offset=2", headers={"Authorization": "Bearer s-token"}), 422, field="offset")


def test_openapi_documents_the_scheme_the_security_and_the_problems(client):
    doc = client.get("/openapi.json").json
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer",
                                                              "description": "a test token"}
    post = doc["paths"]["/notes"]["post"]
    assert post["security"] == [{"bearer": []}]
    for status in ("401", "403", "422"):
        ref = post["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1].startswith("Problem")
    problem = next(v for k, v in doc["components"]["schemas"].items() if k.startswith("Problem"))
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert set(Problem.model_fields) == {"type", "title", "status", "detail", "code", "field"}
