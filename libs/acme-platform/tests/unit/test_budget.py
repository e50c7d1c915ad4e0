"""Connection budget arithmetic (acme_platform.budget): what a deployment opens against its role's limit,
and the service roles' limits against the server's max_connections minus the reserves."""
import pytest

from acme_platform import load_settings
from acme_platform.budget import ClusterBudget, ServiceDemand, refusal, service_demand
from acme_platform.errors import ConfigError

URL = "postgresql://u:p@127.0.0.1/acme"


def test_direct_demand_is_pools_plus_two_session_connections_per_worker_plus_acmectl():
    d = ServiceDemand("storefront", instances=2, workers=2, pool_size=5, max_overflow=5, connection_limit=60)
    assert (d.request_connections, d.direct_connections, d.total) == (40, 9, 49)
    assert d.fits
    assert d.describe() == ("storefront: 2 instance(s) × 2 worker(s) × (pool 5 + overflow 5) + 2×2×2 direct "
                            "+ 1 acmectl = 49, fits its role's limit 60")


def test_one_more_instance_oversubscribes_the_role_and_the_refusal_has_the_numbers():
    d = ServiceDemand("storefront", instances=3, workers=2, pool_size=5, max_overflow=5, connection_limit=60)
    assert d.total == 73 and not d.fits
    line = refusal(d, None)
    assert line is not None and "\n" not in line
    assert "= 73, EXCEEDS its role's limit 60" in line


def test_behind_a_pooler_the_requests_cost_the_pooler_s_connections_not_the_workers_pools():
    d = ServiceDemand("storefront", instances=4, workers=4, pool_size=5, max_overflow=5, connection_limit=60,
                      pooler_connections=10)
    assert (d.request_connections, d.direct_connections, d.total) == (10, 33, 43)
    assert d.fits and d.describe().startswith("storefront: pgbouncer 10 + 4×4×2 direct")


def test_the_server_side_counts_every_role_limit_against_max_connections_minus_reserves():
    c = ClusterBudget(max_connections=100, superuser_reserved=3, reserve=10,
                      role_limits={"acme_svc_storefront": 60, "acme_svc_backoffice": 40})
    assert (c.total, c.available, c.fits) == (100, 87, False)
    line = refusal(None, c)
    assert line == ("connection budget exceeded: server: acme_svc_backoffice 40 + acme_svc_storefront 60 = 100, "
                    "EXCEEDS max_connections 100 − 3 superuser-reserved − 10 reserve = 87")
    assert refusal(None, ClusterBudget(300, 3, 10, {"acme_svc_storefront": 60})) is None


def test_the_demand_comes_from_the_environment():
    settings = load_settings({"DATABASE_URL": URL, "ACME_SERVICE_NAME": "storefront", "ACME_DB_POOL_SIZE": "3",
                              "ACME_DB_MAX_OVERFLOW": "1"})
    d = service_demand(settings, 60, {"ACME_INSTANCES": "3", "ACME_WEB_WORKERS": "4"})
    assert (d.instances, d.workers, d.pool_size, d.max_overflow, d.total) == (3, 4, 3, 1, 48 + 24 + 1)


def test_behind_a_pooler_its_pool_size_must_be_declared():
    settings = load_settings({"DATABASE_URL": URL, "DATABASE_DIRECT_URL": "postgresql://u:p@127.0.0.1:5432/acme"})
    with pytest.raises(ConfigError, match="ACME_DB_POOLER_CONNECTIONS"):
        service_demand(settings, 60, {})
    assert service_demand(settings, 60, {"ACME_DB_POOLER_CONNECTIONS": "10"}).request_connections == 10


@pytest.mark.parametrize("variable", ["ACME_INSTANCES", "ACME_WEB_WORKERS"])
def test_a_bad_count_names_its_variable(variable):
    settings = load_settings({"DATABASE_URL": URL})
    with pytest.raises(ConfigError, match=variable):
        service_demand(settings, 60, {variable: "zero"})
