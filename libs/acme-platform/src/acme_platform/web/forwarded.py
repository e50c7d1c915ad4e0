"""The address of the client a request comes from, trusting X-Forwarded-For only from known proxies.

ACME_TRUSTED_PROXIES: comma-separated addresses or networks (`10.0.0.5, 10.1.0.0/16`) of the reverse
proxies in front of this service. Unset (the default): X-Forwarded-For is ignored and the client is the
TCP peer. Anyone can send the header, so believing it from an untrusted peer would let an attacker pick
a fresh "address" per request and walk around every per-address limit.

With proxies configured, the header is read right to left (each proxy appends the peer it saw) and the
first hop that is not a trusted proxy is the client: entries left of it were written by the client
itself and prove nothing.
"""
from __future__ import annotations

import ipaddress
import os
from functools import lru_cache

from flask import request

from ..errors import ConfigError

TRUSTED_PROXIES_ENV = "ACME_TRUSTED_PROXIES"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(raw: str) -> tuple[_Network, ...]:
    networks = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(TRUSTED_PROXIES_ENV, f"must list IP addresses or networks (got {item!r})") from None
    return tuple(networks)


@lru_cache(maxsize=1)
def trusted_proxies() -> tuple[_Network, ...]:
    return parse_trusted_proxies(os.environ.get(TRUSTED_PROXIES_ENV, ""))


def _is_trusted(address: str, proxies: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def resolve_client_address(peer: str, forwarded_for: list[str], proxies: tuple[_Network, ...]) -> str:
    """The client behind `peer`, given the X-Forwarded-For values in order and the trusted proxies."""
    if not proxies or not _is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer   # garbage where an address should be: fall back to what TCP proves
    return hops[0] if hops else peer


def client_address() -> str:
    """The current request's client address (see the module docstring for X-Forwarded-For)."""
    peer = request.remote_addr or "unknown"
    return resolve_client_address(peer, request.headers.getlist("X-Forwarded-For"), trusted_proxies())


def request_is_https() -> bool:
    """Whether the client reached us over TLS: the request itself, or X-Forwarded-Proto: https set by a
    trusted proxy (ACME_TRUSTED_PROXIES) that terminated TLS. From anyone else the header is ignored.
    Decides e.g. whether a session cookie is marked Secure."""
    if request.scheme == "https":
        return True
    proxies = trusted_proxies()
    if not proxies or not _is_trusted(request.remote_addr or "", proxies):
        return False
    # The last value is the one our nearest proxy wrote; earlier ones came from further out.
    values = [v.strip().lower() for value in request.headers.getlist("X-Forwarded-Proto") for v in value.split(",")]
    return bool(values) and values[-1] == "https"
