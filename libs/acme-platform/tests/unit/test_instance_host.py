"""Which host the registry shows for an instance (acme_platform.registry.instance_host)."""
import socket

import pytest

from acme_platform.registry import instance_host


def test_the_explicit_setting_wins():
    assert instance_host({"ACME_INSTANCE_HOST": "app-7", "ACME_BIND_HOST": "10.61.0.11"}) == "app-7"


@pytest.mark.parametrize("bind", ["10.61.0.11", "192.168.1.5", "2001:db8::5", "[2001:db8::5]", "app1.internal"])
def test_a_specific_bind_address_names_the_host(bind):
    assert instance_host({"ACME_BIND_HOST": bind}) == bind.strip("[]")


@pytest.mark.parametrize("bind", ["", "127.0.0.1", "127.0.1.1", "::1", "0.0.0.0", "::", "localhost", "  "])
def test_loopback_wildcard_or_unset_fall_back_to_the_hostname(bind):
    # Every network namespace shares the hostname: only a bind address that names one host is better.
    assert instance_host({"ACME_BIND_HOST": bind}) == socket.gethostname()
    assert instance_host({"ACME_BIND_HOST": bind, "ACME_INSTANCE_HOST": " "}) == socket.gethostname()
