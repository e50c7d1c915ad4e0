"""No library's SQL names a schema another library owns.

Each library declares the schemas it owns where the platform reads them: the `DomainSpec(schema=…)`
it ships (a domain's `domain.py` DOMAIN; the platform's own `acme_platform` in `domains.py`). So the
list of schemas is read from those declarations here, never written down a second time. A library's
`src/` (its migrations included) may name its own schemas, never another library's: a domain reads
and writes another domain's data only through that domain's API, and domains reach the platform's
tables (`acme_platform.*`) only through the platform API. On main, every library passes as is.

Why a small checker rather than a tool: import-linter (see boundaries.py) sees imports, not SQL, and
no maintained linter knows which Postgres schema belongs to which package. This one reads the source
with `ast` (nothing is imported, so it needs no installed dependencies) and flags:

- a `schema="x"` keyword argument (sa.Table, op.create_table, MetaData, …) naming another schema;
- a string constant in a `ForeignKey(...)`/`ForeignKeyConstraint(...)` call that starts with `x.`;
- a string constant that reads like SQL (an SQL keyword such as SELECT, FROM, JOIN, INSERT, UPDATE,
  REFERENCES, TABLE) and contains a qualified name `x.<identifier>`.

Docstrings are skipped, and so are other strings without an SQL keyword: error codes and event
topics are spelled `<domain>.<name>` too (`"catalog.insufficient_stock"`), and naming another
domain's topic or error code is allowed. SQL assembled from pieces at runtime (a schema name in a
variable) is beyond a static check; review covers that.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from . import projects
from .findings import Finding
from .ui import StackError

_SQL_WORD = re.compile(
    r"\b(select|insert|update|delete|from|join|into|table|references|alter|create|drop|truncate|grant|"
    r"revoke|index|sequence|view|returning|where|to_regclass)\b", re.I)
_FK_CALLS = {"ForeignKey", "ForeignKeyConstraint"}


def _source_files(project: projects.Project) -> list[Path]:
    return sorted(p for p in (project.path / "src").rglob("*.py") if "__pycache__" not in p.parts)


def _parse(path: Path, root: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as e:
        raise StackError(f"cannot parse {path.relative_to(root)}: {e}") from None


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def declared_schemas(root: Path, project: projects.Project) -> set[str]:
    """The schemas a library owns: every `DomainSpec(schema="…")` in its src/."""
    owned = set()
    for path in _source_files(project):
        for node in ast.walk(_parse(path, root)):
            if isinstance(node, ast.Call) and _call_name(node) == "DomainSpec":
                for kw in node.keywords:
                    if kw.arg == "schema" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        owned.add(kw.value.value)
    return owned


def owners(root: Path) -> dict[str, str]:
    """schema -> distribution name of the library that declares it."""
    found: dict[str, str] = {}
    for lib in projects.libs(root):
        for schema in declared_schemas(root, lib):
            if schema in found and found[schema] != lib.name:
                raise StackError(f"schema {schema!r} is declared by both {found[schema]} and {lib.name}")
            found[schema] = lib.name
    return found


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def check(root: Path) -> list[Finding]:
    schema_owner = owners(root)
    found: list[Finding] = []
    for lib in projects.libs(root):
        foreign = {s: o for s, o in schema_owner.items() if o != lib.name}
        if not foreign:
            continue
        qualified = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(foreign))) + r")\.(?=[A-Za-z_\"])")
        for path in _source_files(lib):
            rel = path.relative_to(root).as_posix()
            tree = _parse(path, root)
            skip = _docstrings(tree)

            # Bound now (default arguments): called only within this iteration, but said so explicitly.
            def report(line: int, schema: str, how: str, rel: str = rel, foreign: dict = foreign) -> None:
                found.append(Finding(rel, line, f"{how} names schema {schema!r}, owned by {foreign[schema]}: "
                                                f"use {foreign[schema]}'s public API, not its tables"))

            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    for kw in node.keywords:
                        v = kw.value
                        if kw.arg == "schema" and isinstance(v, ast.Constant) and v.value in foreign:
                            report(v.lineno, v.value, "schema= argument")
                    if _call_name(node) in _FK_CALLS:
                        for arg in ast.walk(node):
                            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                                m = qualified.match(arg.value)
                                if m:
                                    skip.add(id(arg))
                                    report(arg.lineno, m.group(1), "foreign key")
                elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                      and _SQL_WORD.search(node.value)):
                    for m in qualified.finditer(node.value):
                        # Line of the match inside a multi-line string, not just where the string starts.
                        report(node.lineno + node.value.count("\n", 0, m.start()), m.group(1), "SQL")
    return sorted(set(found))
