"""The web side (health, readiness, metrics) and the worker loop in-process, woken by LISTEN/NOTIFY."""
import pytest
from acme_platform import ConfigError, Settings

from fulfillment.app import create_app
from fulfillment.worker import poll_interval_from_env, start_in, stop_in

from .helpers import fulfilled_events, fulfilled_within, place, seed_customer, seed_product


@pytest.fixture
def app(fresh_url):
    app = create_app(Settings(database_url=fresh_url, service_name="fulfillment-test"), json_logs=False)
    yield app
    stop_in(app)
    acme = app.extensions["acme"]
    acme.stop_process()
    acme.close()


def test_health_readiness_and_metrics(app):
    client = app.test_client()
    assert client.get("/healthz").json["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert set(ready.json["domains"]) == {"platform", "orders", "catalog", "billing"}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'fulfillment_orders_total{outcome="skipped"}' in metrics
    assert "fulfillment_consumer_running" in metrics


def test_the_worker_loop_fulfils_orders_as_they_are_placed(app, db, fresh_url):
    worker = start_in(app)
    assert start_in(app) is worker                     # one loop per process, however often asked
    assert app.extensions["acme"].listener.wait_connected(5)
    sku = seed_product(db)
    who = seed_customer(db)
    order_id = place(db, who, sku)
    ok, why = fulfilled_within(db, fresh_url, order_id, timeout=2.0)
    assert ok, why
    assert worker.stop(timeout=5) is True
    assert not worker.running
    assert fulfilled_events(db, expect=1) == [order_id]


@pytest.mark.parametrize("raw,expected", [("", 1.0), ("0.25", 0.25), ("5", 5.0)])
def test_poll_interval_setting(raw, expected):
    assert poll_interval_from_env({"FULFILLMENT_POLL_INTERVAL": raw}) == expected


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "3600"])
def test_bad_poll_interval_names_the_variable(raw):
    with pytest.raises(ConfigError) as info:
        poll_interval_from_env({"FULFILLMENT_POLL_INTERVAL": raw})
    assert info.value.variable == "FULFILLMENT_POLL_INTERVAL"


def test_gunicorn_config_forces_one_worker_and_chains_the_platform_hooks(monkeypatch):
    from acme_platform.gunicorn_conf import configure

    from fulfillment.gunicorn_hooks import run_consumer_in_worker

    monkeypatch.setenv("ACME_WEB_WORKERS", "4")
    namespace: dict = {}
    configure(namespace, port_env="FULFILLMENT_PORT", default_port=8003)
    platform_init, platform_exit = namespace["post_worker_init"], namespace.get("worker_exit")
    run_consumer_in_worker(namespace)
    assert namespace["workers"] == 1
    assert namespace["worker_class"] == "gevent"
    assert namespace["post_worker_init"] is not platform_init
    if platform_exit is not None:
        assert namespace["worker_exit"] is not platform_exit
