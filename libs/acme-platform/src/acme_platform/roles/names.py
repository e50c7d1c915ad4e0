"""Role names, derived from one prefix so that several databases can share a cluster.

The prefix defaults to the database's name (`acme` for `make up`; every test database its own), or
ACME_ROLE_PREFIX. Roles are cluster-wide objects, so a per-database prefix keeps one database's roles from
being another's: a test database's roles can be dropped with it, and `acme_staging` never grants `acme`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,29}$")


class RoleNameError(ValueError):
    pass


@dataclass(frozen=True)
class RoleNames:
    prefix: str

    def __post_init__(self):
        if not _PREFIX.match(self.prefix):
            raise RoleNameError(f"role prefix {self.prefix!r} must be a lower-case identifier of at most 30 "
                                "characters (set ACME_ROLE_PREFIX)")

    @classmethod
    def for_database(cls, database: str, environ=None) -> "RoleNames":
        env = os.environ if environ is None else environ
        return cls((env.get("ACME_ROLE_PREFIX") or database).strip().lower())

    def owner(self, schema: str) -> str:
        return f"{self.prefix}_{schema}_owner"

    def reader(self, schema: str) -> str:
        return f"{self.prefix}_{schema}_reader"

    def writer(self, schema: str) -> str:
        return f"{self.prefix}_{schema}_writer"

    def capability(self, schema: str, name: str) -> str:
        return f"{self.prefix}_{schema}_{name}"

    @property
    def migrator(self) -> str:
        return f"{self.prefix}_migrator"

    def service(self, name: str) -> str:
        return f"{self.prefix}_svc_{name.replace('-', '_')}"


def quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'
