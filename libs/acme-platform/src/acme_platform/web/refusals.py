"""A write the database refused to this service's role, told as what it is.

A service may narrow a domain to read-only (`ServiceAccess.read_only`); its role then lacks the domain's
write privileges, and Postgres refuses the statement ("permission denied for table orders"). That is a
bug in the service, not in the request, but the caller still deserves a clear answer that loses nothing:
the unit of work rolls back, and the problem names the domain so the team knows where to look.
"""
from __future__ import annotations

import re
from functools import lru_cache

from ..domains import installed_domains
from ..roles.declare import installed_services
from ..roles.plan import domain_privileges

_REFUSED = re.compile(r"permission denied for (?:table|relation|sequence|function|schema) ([A-Za-z0-9_.]+)")


@lru_cache(maxsize=8)
def _read_only_objects(service: str) -> dict[str, frozenset[str]]:
    """{domain: names of the objects its declaration mentions} for the domains `service` reads only."""
    services = installed_services()
    access = services.get(service) or (next(iter(services.values())) if len(services) == 1 else None)
    if access is None:
        return {}
    out = {}
    for spec in installed_domains():
        if spec.name in access.read_only:
            privileges = domain_privileges(spec)
            out[spec.name] = frozenset({g.name for g in privileges.read + privileges.write} | {spec.schema})
    return out


def refused_domains(service: str, message: str) -> list[str]:
    """The read-only domains of `service` the refused object may belong to (several for shared names
    such as `outbox`); empty when the refusal is not about a read-only domain."""
    m = _REFUSED.search(message)
    if not m:
        return []
    name = m.group(1).rsplit(".", 1)[-1]
    return sorted(d for d, names in _read_only_objects(service).items() if name in names)
