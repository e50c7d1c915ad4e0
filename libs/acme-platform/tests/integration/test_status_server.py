"""`acmectl status` names the PostgreSQL it reads: the version the server itself reports."""
import psycopg

from acme_platform.migrations import MigrationRunner
from acme_platform.status import collect_status, render_text

from ..conftest import revision

REV1 = revision("td0001", None, """
    op.execute("CREATE TABLE testdom.widgets (id int PRIMARY KEY)")
""")


def test_status_names_the_server_version(make_database, domain_on_path):
    domain_on_path(revisions={"td0001.py": REV1})
    url = make_database()
    MigrationRunner(url, progress=lambda m: None).run()
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    report = collect_status(url)
    assert report["server"] == f"PostgreSQL {version}"
    assert render_text(report).splitlines()[0] == f"DATABASE SERVER  PostgreSQL {version}"
