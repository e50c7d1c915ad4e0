"""No import circles inside any package of libs/ and services/ (`make check`).

A circle (a imports b, b imports a, possibly through others, at module level or inside a function)
means neither module can be understood, tested or moved without the other, and one of them runs
half-initialised at import time; an import hidden inside a function only hides it from the reader.
import-linter has no module-level "acyclic" contract, so this builds the same static graph it uses
(grimp, in the tools venv: nothing is installed or imported from the tree) and reports each strongly
connected group of modules as one finding: `path:line: import circle: a -> b -> a`, at the import
that closes it. TYPE_CHECKING-only imports are left out (they never run).

The orchestrator imports only the stdlib: `check()` runs this file with the tools venv's python,
where `_scan()` imports grimp.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

if __package__:
    from . import projects, tools
    from .config import Layout
    from .findings import Finding
    from .ui import StackError


def check(layout: Layout) -> list[Finding]:
    root = layout.root
    everything = projects.libs(root) + projects.services(root)
    src = {projects.import_package(p): p.path / "src" for p in everything}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(str(s) for s in src.values())
    python = tools.python(layout)
    try:
        res = subprocess.run([str(python), __file__, *sorted(src)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    except subprocess.TimeoutExpired:
        raise StackError("the import-circle scan did not finish within 300 s") from None
    if res.returncode != 0:
        tail = " | ".join(res.stderr.strip().splitlines()[-3:])
        return [Finding("deploy/acme_stack/cycles.py", 1, f"import-circle scan failed (exit {res.returncode}): {tail}")]
    found = []
    for circle in json.loads(res.stdout):
        path = _module_file(circle["module"], src, root)
        found.append(Finding(path, circle["line"], "import circle: " + " -> ".join(circle["cycle"])))
    return sorted(found)


def _module_file(module: str, src: dict[str, Path], root: Path) -> str:
    parts = module.split(".")
    base = src.get(parts[0])
    if base is not None:
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate.relative_to(root).as_posix()
    return module


# -- runs in the tools venv ----------------------------------------------------------------------

def _scan(packages: list[str]) -> list[dict]:
    import grimp

    graph = grimp.build_graph(*packages, cache_dir=None, exclude_type_checking_imports=True)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    circles = []
    for group in _strongly_connected(edges):
        if len(group) < 2:
            continue
        cycle = _one_cycle(sorted(group)[0], edges, group)
        importer, imported = cycle[-2], cycle[-1]
        details = graph.get_import_details(importer=importer, imported=imported)
        line = min((d["line_number"] for d in details), default=1)
        circles.append({"module": importer, "line": line, "cycle": cycle})
    return circles


def _strongly_connected(edges: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (a deep package would overflow the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def _one_cycle(start: str, edges: dict[str, list[str]], group: set[str]) -> list[str]:
    """The shortest circle through `start` inside its group (breadth-first), as start -> ... -> start."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in edges.get(node, ()):
                if child not in group:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start, start]


if __name__ == "__main__":
    json.dump(_scan(sys.argv[1:]), sys.stdout)
