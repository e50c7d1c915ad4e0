"""How far behind a consumer group is, per domain: rows of the domain's outbox after its offset.

Read by the consumer (metrics), by /readyz of a service that runs one, and by `acmectl events`.
A group without an offset row yet is at the start of the outbox: everything is lag.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# Counting stops here: "more than 100000 behind" is all anyone needs to know, and a count of millions
# of rows must not make /readyz slow.
COUNT_CAP = 100_000


@dataclass(frozen=True)
class Lag:
    group: str
    domain: str
    events: int            # rows not passed yet (at most COUNT_CAP)
    seconds: float         # age of the oldest of them; 0 when caught up
    dead_letters: int = 0  # open ones (status dead or replay)

    def describe(self) -> str:
        more = "+" if self.events >= COUNT_CAP else ""
        return (f"consumer group {self.group} is {self.events}{more} event(s) and {self.seconds:.0f} s behind "
                f"on {self.domain}")


def group_lag(conn: sa.Connection, group: str, domains: Iterable[str]) -> list[Lag]:
    result = []
    for domain in sorted(set(domains)):
        if not _IDENT.match(domain):
            raise ValueError(f"not a domain schema name: {domain!r}")
        offset = conn.exec_driver_sql(
            "SELECT last_txid, last_id FROM acme_platform.consumer_offsets "
            "WHERE consumer_group = %(g)s AND domain = %(d)s", {"g": group, "d": domain}).first()
        txid, last_id = (offset.last_txid, offset.last_id) if offset is not None else (0, 0)
        row = conn.exec_driver_sql(
            f'SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age FROM ('
            f'SELECT created_at FROM "{domain}".outbox WHERE (txid, id) > (%(t)s, %(i)s) '
            f'ORDER BY txid, id LIMIT {COUNT_CAP}) behind',
            {"t": txid, "i": last_id}).first()
        dead = conn.exec_driver_sql(
            "SELECT count(*) FROM acme_platform.dead_letters WHERE consumer_group = %(g)s AND domain = %(d)s "
            "AND status IN ('dead', 'replay')", {"g": group, "d": domain}).scalar()
        result.append(Lag(group, domain, int(row.n), max(float(row.age or 0.0), 0.0), int(dead)))
    return result


def all_groups_lag(conn: sa.Connection) -> list[Lag]:
    """Every group that has an offset (what `acmectl events` shows)."""
    rows = conn.exec_driver_sql(
        "SELECT consumer_group, domain FROM acme_platform.consumer_offsets ORDER BY 1, 2").all()
    result = []
    for row in rows:
        result += group_lag(conn, row.consumer_group, [row.domain])
    return result
