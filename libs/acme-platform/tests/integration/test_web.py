"""The Flask app factory against a real Postgres: readiness, problem+json, per-request transactions."""
import psycopg
import pytest
from pydantic import BaseModel, ConfigDict, Field

from acme_platform import Conflict, Settings
from acme_platform.migrations import MigrationRunner
from acme_platform.web import accepts_forms, create_app, current_uow, make_spec, serve_openapi

from ..conftest import revision

REV = revision("wb0001", None, """
    op.execute("CREATE TABLE testdom.notes (id serial PRIMARY KEY, body text NOT NULL)")
""")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=50)
    stars: int = Field(default=0, ge=0, le=5)


class NoteTaken(Conflict):
    code = "testdom.note_taken"
    title = "Note taken"


def build_app(url):
    app = create_app(__name__, service_name="webtest", service_version="9.9.9", domains=["testdom"],
                     settings=Settings(database_url=url, service_name="webtest", service_version="9.9.9"),
                     json_logs=False)
    spec = make_spec(app, title="webtest", version="9.9.9")

    @app.post("/notes")
    @spec.validate(json=NoteIn)
    def add_note(json: NoteIn):
        conn = current_uow().connection
        conn.exec_driver_sql("INSERT INTO testdom.notes (body) VALUES (%(b)s)", {"b": json.body})
        if json.body == "taken":
            raise NoteTaken("that note exists", field="body")
        if json.body == "crash":
            raise RuntimeError("secret internal detail")
        return {"body": json.body}, 201

    @app.get("/cached")
    def answered_from_a_cache():
        # What a cache hit does: asks for the request's unit of work, never sends SQL.
        uow = current_uow()
        from acme_platform.web.app import platform
        return {"checked_out": platform().database.engine.pool.checkedout(), "state": sorted(uow.state)}

    @app.post("/form")
    @accepts_forms
    def a_browser_form():
        from flask import request
        return {"got": request.form.get("body")}, 200

    serve_openapi(app, spec)
    return app


@pytest.fixture
def app_and_url(make_database, domain_on_path):
    domain_on_path(revisions={"wb0001.py": REV})
    url = make_database()
    return build_app(url), url


def count_notes(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM testdom.notes").fetchone()[0]


def test_readyz_is_503_before_migrating_and_200_after(app_and_url):
    app, url = app_and_url
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    before = client.get("/readyz")
    assert before.status_code == 503
    assert before.mimetype == "application/problem+json"
    assert "migrations pending" in before.json["detail"]
    MigrationRunner(url, progress=lambda m: None).run()
    after = client.get("/readyz")
    assert after.status_code == 200, after.json
    assert after.json["domains"]["testdom"] == "1.0.0"


@pytest.fixture
def migrated_client(app_and_url):
    app, url = app_and_url
    MigrationRunner(url, progress=lambda m: None).run()
    return app.test_client(), url


@pytest.mark.parametrize("body,content_type,status,field", [
    ("{not json", "application/json", 422, "body"),
    ('{"body": "x", "colour": "red"}', "application/json", 422, "colour"),
    ('{"body": ""}', "application/json", 422, "body"),
    ('{"body": "x", "stars": "many"}', "application/json", 422, "stars"),
    ('{"body": "x", "stars": 99}', "application/json", 422, "stars"),
    ('[1, 2]', "application/json", 422, None),
    ("body=x", "text/plain", 415, "body"),
    ("body=x", "application/x-www-form-urlencoded", 415, "body"),
    ("[" * 100_000 + "]" * 100_000, "application/json", 422, "body"),
    ("", "application/x-www-form-urlencoded", 415, "body"),
])
def test_bad_input_is_a_4xx_problem_naming_the_field(migrated_client, body, content_type, status, field):
    client, url = migrated_client
    resp = client.post("/notes", data=body, content_type=content_type)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    problem = resp.json
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert problem["status"] == status
    if field:
        assert problem["field"] == field
    assert count_notes(url) == 0


def test_success_commits_and_domain_error_rolls_back(migrated_client):
    client, url = migrated_client
    assert client.post("/notes", json={"body": "hello"}).status_code == 201
    taken = client.post("/notes", json={"body": "taken"})
    assert taken.status_code == 409
    assert taken.json["code"] == "testdom.note_taken"
    assert taken.json["field"] == "body"
    assert count_notes(url) == 1  # the insert before the error was rolled back


def test_a_request_that_sends_no_sql_takes_no_pooled_connection(migrated_client):
    client, _ = migrated_client
    response = client.get("/cached")
    assert response.status_code == 200
    assert response.get_json() == {"checked_out": 0, "state": []}


def test_unexpected_error_is_a_500_problem_without_internals(migrated_client):
    client, url = migrated_client
    resp = client.post("/notes", json={"body": "crash"})
    assert resp.status_code == 500
    assert resp.mimetype == "application/problem+json"
    assert "secret internal detail" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)
    assert count_notes(url) == 0


def test_not_found_and_method_not_allowed_are_problems(migrated_client):
    client, _ = migrated_client
    assert client.get("/nope").mimetype == "application/problem+json"
    resp = client.get("/notes")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"


def test_request_id_is_echoed_and_metrics_count_requests(migrated_client):
    client, _ = migrated_client
    resp = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    client.post("/notes", json={"body": "m"})
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'acme_http_requests_total{endpoint="/notes",method="POST",service="webtest",status="201"}' in metrics


def test_openapi_document_comes_from_the_validating_models(migrated_client):
    client, _ = migrated_client
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert "/notes" in doc["paths"]
    schemas = doc["components"]["schemas"]
    note = next(v for k, v in schemas.items() if k.startswith("NoteIn"))
    assert set(note["properties"]) == {"body", "stars"}


def _login_as(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest.rsplit('@', 1)[1]}"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", ["refused_login", "nothing_listening"])
def test_readyz_names_the_failed_dependency_but_not_its_user_host_or_port(make_database, domain_on_path, case):
    # /readyz is unauthenticated: the database's login name, host and port are reconnaissance for an attacker.
    domain_on_path(revisions={"wb0001.py": REV})
    url = make_database()
    if case == "refused_login":
        # A real server that answers with "password authentication failed for user ...".
        url = _login_as(url, "readyz_leak_probe", "wrong")
        host_port = url.rsplit("@", 1)[1].split("/", 1)[0]
    else:
        host_port = f"127.0.0.1:{_free_port()}"
        url = f"postgresql://readyz_leak_probe:wrong@{host_port}/acme"
    app = build_app(url)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == "platform.not_ready"
    assert resp.json["dependency"] == "database"
    text = resp.get_data(as_text=True)
    host, port = host_port.rsplit(":", 1)
    for secret in ("readyz_leak_probe", host, port, "wrong", "localhost"):
        assert secret not in text, f"/readyz leaks {secret!r}: {text}"


def test_only_a_view_marked_accepts_forms_takes_a_form_post(migrated_client):
    client, _ = migrated_client
    resp = client.post("/form", data={"body": "x"})
    assert resp.status_code == 200 and resp.json == {"got": "x"}
    assert client.post("/notes", data={"body": "x"}).status_code == 415   # unmarked: still JSON only
