"""Who may publish what: the index's ownership registry, derived from each library's own declaration.

Every library says once, in its pyproject.toml, which team owns it (`[tool.acme.library] owner`).
This module turns those declarations into the registry the index enforces (package -> team) and the
list of teams that get a publish login. Nothing here is a second list of owners to keep in sync.

`make test`'s throwaway index also knows the test fixtures' libraries: every `tests/**/pyproject.toml`
with a `[tool.acme.library]` table (the skew drill's acme-skewdemo), and, for libraries the suites
generate at run time under random names, the patterns in deploy/tests/index-owners.toml.
"""
from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

from . import projects
from .ui import StackError, rel

def normalize(name: str) -> str:
    """PEP 503 normalisation (also applied to patterns: "acme_relmock-*" == "acme-relmock-*")."""
    return re.sub(r"[-_.]+", "-", name).lower()


TEAM = re.compile(r"^team-[a-z0-9][a-z0-9-]*$")
TEST_PATTERNS = Path("deploy/tests/index-owners.toml")


def _team(owner: str, where: str) -> str:
    if not TEAM.match(owner):
        raise StackError(f"{where}: owner {owner!r} must be a team name like \"team-catalog\" "
                         f"(it is also the team's publish login on the index)")
    return owner


def _declare(found: dict[str, str], name: str, owner: str, where: str) -> None:
    key = normalize(name)
    if found.get(key, owner) != owner:
        raise StackError(f"{where}: {name} is declared with two owners ({found[key]} and {owner})")
    found[key] = _team(owner, where)


def registry(root: Path, *, with_test_fixtures: bool = False) -> dict:
    """{"packages": {normalized name: team}, "patterns": {glob: team}} for the index to enforce."""
    packages: dict[str, str] = {}
    for lib in projects.libs(root):
        where = f"{rel(lib.path / 'pyproject.toml', root)} [tool.acme.library]"
        if not lib.owner:
            raise StackError(f"{where}: declare the owning team (owner = \"team-<name>\"): the index lets only "
                             f"that team publish {lib.name}")
        _declare(packages, lib.name, lib.owner, where)
    patterns: dict[str, str] = {}
    if with_test_fixtures:
        for pyproject in sorted((root / "tests").rglob("pyproject.toml")) if (root / "tests").is_dir() else []:
            proj = projects.load(pyproject.parent)
            if proj.library.get("owner"):
                _declare(packages, proj.name, proj.owner, f"{rel(pyproject, root)} [tool.acme.library]")
        path = root / TEST_PATTERNS
        if path.is_file():
            try:
                table = tomllib.loads(path.read_text()).get("owners", {})
            except tomllib.TOMLDecodeError as e:
                raise StackError(f"{TEST_PATTERNS}: {e}") from None
            for pattern, owner in sorted(table.items()):
                patterns[normalize(pattern)] = _team(str(owner), str(TEST_PATTERNS))
    return {"packages": dict(sorted(packages.items())), "patterns": patterns}


def teams(reg: dict) -> list[str]:
    return sorted(set(reg["packages"].values()) | set(reg["patterns"].values()))


def owner_of(reg: dict, name: str) -> str:
    """The team that may publish `name`, or "" when no declaration names it (then nobody may)."""
    key = normalize(name)
    if key in reg["packages"]:
        return reg["packages"][key]
    for pattern, team in reg["patterns"].items():
        if fnmatch.fnmatchcase(key, pattern):
            return team
    return ""


def write(reg: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(reg, indent=1, sort_keys=True) + "\n")
