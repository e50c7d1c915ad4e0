"""Every domain library follows one data-access convention (each domain README's "Data access").

- the domain has a `repository.py` next to its `service.py`, and it alone sends SQL: no other module of
  the package imports SQLAlchemy or calls `.execute(...)` / `.exec_driver_sql(...)` (`tables.py`, the
  mirror of the migrations, and `migrations/` are the exceptions);
- the repository's SQL is psycopg `%(name)s` text sent with `exec_driver_sql`: no `.execute(...)`, no
  `text(...)`, no SQLAlchemy Core statement (`select`/`insert`/`update`/`delete`), no `:name` parameter
  in an SQL string.

Why: one style that keeps the hot path free of SQLAlchemy compilation and that bench/floor.py (plain
psycopg) imports verbatim. Like schemas.py this reads the source with `ast` (nothing is imported).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from . import projects
from .findings import Finding
from .schemas import _parse, _source_files

REPOSITORY = "repository.py"
_EXEMPT = ("tables.py",)
_SENDERS = {"execute", "exec_driver_sql"}
_CORE = {"text", "select", "insert", "update", "delete"}
_SQL = re.compile(r"\b(select|insert|update|delete)\b.*\b(from|into|set|where|values)\b", re.I | re.S)
_COLON_PARAM = re.compile(r"(?<![:\w]):[A-Za-z_]\w*")


def check(root: Path) -> list[Finding]:
    found: list[Finding] = []
    for project in projects.libs(root):
        if project.is_domain:
            found += _check_domain(project, root)
    return sorted(found)


def _check_domain(project: projects.Project, root: Path) -> list[Finding]:
    package = project.path / "src" / projects.import_package(project)
    repository = package / REPOSITORY
    found: list[Finding] = []
    if not repository.is_file():
        found.append(Finding(repository.relative_to(root).as_posix(), 1,
                             "missing: a domain keeps its SQL in repository.py (README \"Data access\")"))
    for path in _source_files(project):
        rel = path.relative_to(root).as_posix()
        if path == repository:
            found += _check_repository(path, rel, root)
        elif path.name not in _EXEMPT and "migrations" not in path.relative_to(package).parts:
            found += _check_other(path, rel, root)
    return found


def _sqlalchemy_names(tree: ast.Module) -> set[str]:
    """Local names bound to sqlalchemy modules or their members (`sa`, `text`, `select`, ...)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("sqlalchemy")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names |= {a.asname or a.name for a in node.names}
    return names


def _check_other(path: Path, rel: str, root: Path) -> list[Finding]:
    found = []
    for node in ast.walk(_parse(path, root)):
        if isinstance(node, ast.Import) and any(a.name.startswith("sqlalchemy") for a in node.names) or (
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")):
            found.append(Finding(rel, node.lineno, "imports SQLAlchemy: SQL belongs in repository.py"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SENDERS:
            found.append(Finding(rel, node.lineno, f"calls .{node.func.attr}(): SQL belongs in repository.py"))
    return found


def _check_repository(path: Path, rel: str, root: Path) -> list[Finding]:
    tree = _parse(path, root)
    sqlalchemy = _sqlalchemy_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "execute":
                found.append(Finding(rel, node.lineno, "sends SQL with .execute(): use exec_driver_sql with a "
                                                       "%(name)s text"))
            core = (func.attr if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in sqlalchemy else func.id if isinstance(func, ast.Name)
                    and func.id in sqlalchemy else None)
            if core in _CORE:
                found.append(Finding(rel, node.lineno, f"builds SQL with SQLAlchemy {core}(): write it as a "
                                                       "%(name)s text"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL.search(node.value):
            param = _COLON_PARAM.search(node.value)
            if param:
                found.append(Finding(rel, node.lineno, f"SQL parameter {param.group(0)} in the :name style: "
                                                       "use %(name)s"))
    return found
