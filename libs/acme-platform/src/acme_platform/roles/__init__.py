"""Ownership and least privilege in the shared database, derived from what domains and services declare.

- A domain declares its runtime needs (`Privileges`, `table`, `function`) beside its tables.
- A service declares its access (`ServiceAccess`: read-only domains, connection budget).
- `acmectl roles plan` shows the SQL that brings the database to the declared state; `apply` runs it.
See plan.py for who is who.
"""
from .declare import DeclarationError, Grant, Privileges, ServiceAccess, function, installed_services, table
from .names import RoleNames

__all__ = ["Privileges", "Grant", "table", "function", "ServiceAccess", "installed_services", "RoleNames",
           "DeclarationError"]
