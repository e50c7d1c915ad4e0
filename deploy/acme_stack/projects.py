"""Discovering libs/ and services/ and reading what the stack needs from their pyproject.toml."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .ui import StackError

# The runtime every other library builds on: published first, and its owner owns the repo's root files.
PLATFORM = "acme-platform"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def req_name(requirement: str) -> str:
    m = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", m.group(1)).lower() if m else ""


@dataclass
class Project:
    path: Path  # libs/<dist> or services/<name>
    name: str  # distribution name
    version: str
    dependencies: list[str]
    extras: dict[str, list[str]]
    build_requires: list[str]
    service: dict = field(default_factory=dict)  # [tool.acme.service]
    library: dict = field(default_factory=dict)  # [tool.acme.library]
    entry_points: dict = field(default_factory=dict)  # [project.entry-points]: group -> {name: "module:attr"}

    @property
    def owner(self) -> str:
        """The owning team, declared once in [tool.acme.library] or [tool.acme.service] (`owner`)."""
        return str(self.library.get("owner") or self.service.get("owner") or "")

    @property
    def dirname(self) -> str:
        return self.path.name

    @property
    def is_domain(self) -> bool:
        """A domain library registers itself with the platform (entry point group `acme.domains`)."""
        return bool(self.entry_points.get("acme.domains"))

    @property
    def acme_deps(self) -> set[str]:
        return {req_name(r) for r in self.dependencies if req_name(r).startswith("acme-")}


def load(path: Path) -> Project:
    pyproject = path / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise StackError(f"cannot read {pyproject}: {e}") from None
    project = data.get("project", {})
    if "name" not in project or "version" not in project:
        raise StackError(f"{pyproject} needs static [project] name and version")
    return Project(
        path=path,
        name=project["name"],
        version=str(project["version"]),
        dependencies=list(project.get("dependencies", [])),
        extras={k: list(v) for k, v in project.get("optional-dependencies", {}).items()},
        build_requires=list(data.get("build-system", {}).get("requires", [])),
        service=data.get("tool", {}).get("acme", {}).get("service", {}),
        library=data.get("tool", {}).get("acme", {}).get("library", {}),
        entry_points={k: dict(v) for k, v in project.get("entry-points", {}).items()},
    )


def _discover(root: Path, folder: str) -> list[Project]:
    base = root / folder
    if not base.is_dir():
        return []
    return [load(p.parent) for p in sorted(base.glob("*/pyproject.toml"))]


def libs(root: Path) -> list[Project]:
    """Libraries in publish order: each after the acme-* libraries it depends on."""
    found = _discover(root, "libs")
    by_name = {req_name(p.name): p for p in found}
    ordered: list[Project] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise StackError(f"dependency cycle between libraries: {' -> '.join(chain + (name,))}")
        state[name] = "visiting"
        for dep in sorted(by_name[name].acme_deps):
            if dep in by_name:
                visit(dep, chain + (name,))
        state[name] = "done"
        ordered.append(by_name[name])

    # acme-platform first (everything builds on it), the rest alphabetically within the topo order.
    for name in sorted(by_name, key=lambda n: (n != PLATFORM, n)):
        visit(name, ())
    return ordered


def services(root: Path) -> list[Project]:
    return _discover(root, "services")


def import_package(project: Project) -> str:
    """The one top-level import package a library or service ships (src/<name>/__init__.py)."""
    found = sorted(p.parent.name for p in (project.path / "src").glob("*/__init__.py"))
    if len(found) != 1:
        raise StackError(f"{project.path}/src should hold exactly one package, found {found or 'none'}")
    return found[0]


def service_spec(svc: Project) -> dict:
    """The [tool.acme.service] table, validated, with defaults filled in."""
    spec = dict(svc.service)
    where = f"services/{svc.dirname}/pyproject.toml [tool.acme.service]"
    if not spec:
        raise StackError(f"{where} is missing: it says how to run the service (command, port_env, default_port)")
    cmd = spec.get("command")
    if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
        raise StackError(f"{where}: command must be a non-empty list of strings")
    if not isinstance(spec.get("port_env"), str) or not isinstance(spec.get("default_port"), int):
        raise StackError(f"{where}: port_env (string) and default_port (integer) are required")
    env = spec.setdefault("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise StackError(f"{where}: env must be a table of strings (variables the service always runs with)")
    spec.setdefault("cwd", ".")
    spec.setdefault("health_path", "/healthz")
    return spec


def has_test_files(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.is_file() for pat in ("test_*.py", "*_test.py") for p in folder.rglob(pat)
    )
