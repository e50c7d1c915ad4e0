"""`make deps`: which service pins which library version, and which newer versions the index has.

Pins come from services/*/requirements.lock (what is actually deployed, transitive ones included);
a pin the service's pyproject.toml names itself is "direct", otherwise it arrives through another
library. Versions come from the index `release` talks to (target.py). Without a reachable index the
matrix is still printed, without the "newer" part.
"""
from __future__ import annotations

import json
import re

from . import mirror, projects, target, versions
from .config import Layout
from .index import normalize
from .ui import StackError


def _lock_pins(svc: projects.Project) -> dict[str, str]:
    lock = svc.path / "requirements.lock"
    if lock.is_file():
        try:
            return {p.name: p.version for p in mirror.parse_lock(lock) if p.name.startswith("acme-")}
        except StackError:
            pass
    # No (usable) lock yet: the pyproject's exact pins are the best we know.
    return {projects.req_name(r): m.group(1) for r in svc.dependencies
            if projects.req_name(r).startswith("acme-") and (m := re.search(r"==\s*([^\s,;]+)", r))}


def collect(layout: Layout) -> dict:
    services = projects.services(layout.root)
    tree = {normalize(lib.name): lib.version for lib in projects._discover(layout.root, "libs")}
    pins = {svc.dirname: _lock_pins(svc) for svc in services}
    direct = {svc.dirname: {projects.req_name(r) for r in svc.dependencies} for svc in services}
    names = sorted(set(tree) | {n for p in pins.values() for n in p})

    report: dict = {"index": None, "index_error": None, "services": {}, "libraries": {}}
    on_index: dict[str, list[versions.Version]] = {}
    try:
        idx = target.select(layout)
        report["index"] = idx.simple_url
        for name in names:
            on_index[name] = versions.sorted_versions(versions.published(idx, name))
    except StackError as e:
        report["index_error"] = e.message

    for name in names:
        published = on_index.get(name, [])
        report["libraries"][name] = {
            "in_repo": tree.get(name),
            "published": [str(v) for v in published],
            "newest": str(published[0]) if published else None,
            "used_by": {svc: pins[svc][name] for svc in sorted(pins) if name in pins[svc]},
        }
    for svc in sorted(pins):
        entry = {}
        for name, pinned in sorted(pins[svc].items()):
            current = versions.try_parse(pinned)
            newer = [v for v in on_index.get(name, []) if current and v > current and not v.is_prerelease]
            entry[name] = {
                "pinned": pinned,
                "direct": name in direct[svc],
                "newer": [{"version": str(v), "bump": versions.bump_kind(current, v)} for v in sorted(newer) if current],
            }
        report["services"][svc] = entry
    return report


def render(report: dict) -> str:
    services = sorted(report["services"])
    libs = report["libraries"]
    if not libs:
        return "no acme-* libraries in libs/ or in services/*/requirements.lock"
    header = ["library", *services, "newest on index", "in libs/"]
    rows = [header]
    for name, info in libs.items():
        cells = [name]
        for svc in services:
            pin = report["services"][svc].get(name)
            if pin is None:
                cells.append("-")
                continue
            text = pin["pinned"] if pin["direct"] else f"({pin['pinned']})"
            cells.append(text + (" *" if pin["newer"] else ""))
        cells.append(info["newest"] or ("?" if report["index_error"] else "not published"))
        cells.append(info["in_repo"] or "-")
        rows.append(cells)
    width = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = [f"index: {report['index'] or 'unavailable'}"]
    out += ["  ".join(c.ljust(width[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    out.append("(x.y.z) = pinned through another library, not in the service's pyproject.toml; "
               "* = newer versions on the index")
    upgrades = [(svc, name, pin) for svc in services for name, pin in report["services"][svc].items() if pin["newer"]]
    if upgrades:
        out.append("")
        out.append("newer versions on the index:")
        for svc, name, pin in upgrades:
            newer = ", ".join(f"{n['version']} ({n['bump']})" for n in pin["newer"])
            out.append(f"  {svc}: {name} {pin['pinned']} -> {newer}")
        out.append("adopt one with: make bump SERVICE=<service> LIB=<library> VERSION=<version>")
    if report["index_error"]:
        out.append(f"note: newer versions unknown: {report['index_error']}")
    return "\n".join(out)


def deps(layout: Layout, as_json: bool = False) -> int:
    report = collect(layout)
    print(json.dumps(report, indent=2) if as_json else render(report))
    return 0
