"""Timeouts against a real Postgres: a statement over its timeout, a request over its deadline and a pool
with no free connection all answer 503 problem+json with Retry-After, and leave the database as it was;
pooled connections carry TCP keepalives and tcp_user_timeout."""
import socket
import time

import psycopg
import pytest

from acme_platform import Settings
from acme_platform.db import Database
from acme_platform.migrations import MigrationRunner
from acme_platform.web import create_app, current_uow

from ..conftest import revision

REV = revision("tm0001", None, """
    op.execute("CREATE TABLE testdom.notes (id serial PRIMARY KEY, body text NOT NULL)")
""")


def build_app(url, **settings):
    app = create_app(__name__, service_name="timeouts", service_version="1.0.0", domains=["testdom"],
                     settings=Settings(database_url=url, service_name="timeouts", service_version="1.0.0",
                                       **settings),
                     json_logs=False)

    @app.post("/slow/<float:seconds>/<int:times>")
    def slow(seconds: float, times: int):
        conn = current_uow().connection
        conn.exec_driver_sql("INSERT INTO testdom.notes (body) VALUES ('written before the slow part')")
        for _ in range(times):
            conn.exec_driver_sql("SELECT pg_sleep(%(s)s)", {"s": seconds})
        return {"done": True}, 201

    @app.post("/think/<float:seconds>")
    def think(seconds: float):
        conn = current_uow().connection
        conn.exec_driver_sql("INSERT INTO testdom.notes (body) VALUES ('written before thinking')")
        time.sleep(seconds)          # the application, not the database, is slow
        conn.exec_driver_sql("SELECT 1")
        return {"done": True}, 201

    return app


@pytest.fixture
def url(make_database, domain_on_path):
    domain_on_path(revisions={"tm0001.py": REV})
    url = make_database()
    MigrationRunner(url, progress=lambda m: None).run()
    return url


def count_notes(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM testdom.notes").fetchone()[0]


def assert_timed_out(resp, code="platform.timeout"):
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == code
    assert resp.headers["Retry-After"] == "1"


def test_a_statement_over_the_statement_timeout_is_503_and_rolls_back(url):
    client = build_app(url, statement_timeout_ms=300, request_deadline_ms=0).test_client()
    assert client.post("/slow/0.01/1").status_code == 201           # under the timeout: kept
    assert_timed_out(client.post("/slow/2.0/1"))
    assert count_notes(url) == 1, "the insert before the timed-out statement must be rolled back"


def test_statements_each_under_their_timeout_are_still_bound_by_the_request_deadline(url):
    # Each sleep (0.4 s) is well under the 5 s statement timeout; together they outlast the 1 s deadline.
    client = build_app(url, statement_timeout_ms=5000, request_deadline_ms=1000).test_client()
    started = time.monotonic()
    assert_timed_out(client.post("/slow/0.4/10"))
    assert time.monotonic() - started < 4, "the deadline, not the 10 x 0.4 s of work, must end the request"
    assert count_notes(url) == 0
    assert client.post("/slow/0.1/2").status_code == 201             # inside the deadline: kept
    assert count_notes(url) == 1


def test_no_statement_is_sent_after_the_deadline(url):
    client = build_app(url, request_deadline_ms=300).test_client()
    assert_timed_out(client.post("/think/0.5"))
    assert count_notes(url) == 0


def test_the_deadline_setting_of_one_request_does_not_leak_into_the_pool(url):
    app = build_app(url, statement_timeout_ms=4000, request_deadline_ms=2000, pool_size=1, max_overflow=0)
    client = app.test_client()
    assert client.post("/slow/0.01/1").status_code == 201
    # The same (only) pooled connection, outside a request: back at the configured statement timeout.
    engine = app.extensions["acme"].database.engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "4s"


def test_pool_checkout_timeout_is_503_with_retry_after(url):
    app = build_app(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    engine = app.extensions["acme"].database.engine
    with engine.connect():                     # holds the only connection
        resp = app.test_client().post("/slow/0.01/1")
    assert_timed_out(resp, code="platform.unavailable")
    assert count_notes(url) == 0


def test_pooled_connections_use_tcp_keepalives_and_user_timeout(url):
    db = Database(Settings(database_url=url, tcp_keepalives_idle=7, tcp_keepalives_interval=3,
                           tcp_keepalives_count=4, tcp_user_timeout_ms=9000))
    try:
        with db.engine.connect() as conn:
            fd = conn.connection.driver_connection.fileno()
            sock = socket.socket(fileno=socket.dup(fd))
            try:
                assert sock.family in (socket.AF_INET, socket.AF_INET6)
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 9000
            finally:
                sock.close()   # a duplicate descriptor: the connection's own stays open
    finally:
        db.dispose()
