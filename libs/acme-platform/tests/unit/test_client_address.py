"""X-Forwarded-For is believed only from configured proxies, and read right to left."""
import pytest

from acme_platform import ConfigError
from acme_platform.web.forwarded import parse_trusted_proxies, resolve_client_address

PROXIES = parse_trusted_proxies("10.0.0.5, 10.1.0.0/16")


def test_without_trusted_proxies_the_peer_is_the_client():
    assert resolve_client_address("198.51.100.7", ["1.2.3.4"], ()) == "198.51.100.7"


def test_an_untrusted_peer_cannot_pick_its_address():
    assert resolve_client_address("198.51.100.7", ["1.2.3.4"], PROXIES) == "198.51.100.7"


def test_behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client():
    # The client wrote "1.2.3.4" itself; the proxy appended the peer it saw (203.0.113.9).
    assert resolve_client_address("10.0.0.5", ["1.2.3.4, 203.0.113.9"], PROXIES) == "203.0.113.9"
    assert resolve_client_address("10.0.0.5", ["1.2.3.4", "203.0.113.9, 10.1.2.3"], PROXIES) == "203.0.113.9"


def test_garbage_in_the_header_falls_back_to_the_peer():
    assert resolve_client_address("10.0.0.5", ["not-an-ip"], PROXIES) == "10.0.0.5"
    assert resolve_client_address("10.0.0.5", [], PROXIES) == "10.0.0.5"


def test_a_bad_setting_names_the_variable():
    with pytest.raises(ConfigError, match="ACME_TRUSTED_PROXIES"):
        parse_trusted_proxies("10.0.0.5, nonsense")


def test_client_address_reads_the_request_and_ignores_the_header_by_default(monkeypatch):
    from flask import Flask

    from acme_platform.web import client_address, forwarded

    environ = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.9"}
    monkeypatch.setattr(forwarded, "trusted_proxies", lambda: ())
    with Flask(__name__).test_request_context(environ_base=environ):
        assert client_address() == "10.0.0.5"
    monkeypatch.setattr(forwarded, "trusted_proxies", lambda: PROXIES)
    with Flask(__name__).test_request_context(environ_base=environ):
        assert client_address() == "203.0.113.9"


def test_https_is_believed_from_the_request_or_a_trusted_proxy_only(monkeypatch):
    from flask import Flask

    from acme_platform.web import forwarded, request_is_https

    app = Flask(__name__)
    proxied = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_PROTO": "https"}
    monkeypatch.setattr(forwarded, "trusted_proxies", lambda: ())
    with app.test_request_context(environ_base=proxied):
        assert request_is_https() is False           # anyone can send the header
    with app.test_request_context(base_url="https://example.com"):
        assert request_is_https() is True            # TLS on this very request
    monkeypatch.setattr(forwarded, "trusted_proxies", lambda: PROXIES)
    with app.test_request_context(environ_base=proxied):
        assert request_is_https() is True
    with app.test_request_context(environ_base={**proxied, "REMOTE_ADDR": "198.51.100.7"}):
        assert request_is_https() is False           # not from our proxy
    with app.test_request_context(environ_base={**proxied, "HTTP_X_FORWARDED_PROTO": "https, http"}):
        assert request_is_https() is False           # the nearest proxy saw plain http
