"""/status: the platform's skew report for staff, as HTML and JSON."""
from acme_platform import Database, Settings
from acme_platform.domains import installed_domains
from acme_platform.registry import InstanceRegistration

from .helpers import assert_problem


def test_status_needs_a_staff_token(client):
    assert_problem(client.get("/status"), 401)
    assert_problem(client.get("/v1/status"), 401)


def test_status_lists_live_instances_and_flags_who_is_behind(client, auth, migrated_database_url):
    db = Database(Settings(database_url=migrated_database_url, service_name="old-storefront"))
    specs = installed_domains(["catalog"])
    old = InstanceRegistration(db, service="old-storefront", service_version="0.9", domains=specs)
    new = InstanceRegistration(db, service="new-storefront", service_version="1.0", domains=specs)
    old.packages = {**old.packages, "acme-catalog": "0.9.0"}  # what that older process has installed
    old.start()
    new.start()
    try:
        report = client.get("/v1/status", headers=auth).json
        services = {i["service"] for i in report["instances"]}
        assert {"old-storefront", "new-storefront"} <= services
        behind = [f for f in report["skew"] if f["kind"] == "behind" and f["package"] == "acme-catalog"]
        assert [(f["service"], f["version"]) for f in behind] == [("old-storefront", "0.9.0")]
        assert report["database"]["catalog"]["ledger"][0]["phase"] == "expand"

        page = client.get("/status", headers=auth)
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert "old-storefront" in html and "acme-catalog 0.9.0" in html
        assert "runs acme-catalog 0.9.0; newest live is" in html
    finally:
        old.deregister()
        new.deregister()
        db.dispose()
