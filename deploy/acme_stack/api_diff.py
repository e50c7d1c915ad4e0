"""Compare the public API of two versions of one package with griffe; prints JSON.

NOT imported by the orchestrator (which is stdlib-only): `semver_gate` runs this file as a script
with the tools venv's python, where griffe is installed:

    python api_diff.py PACKAGE OLD_SEARCH_PATH NEW_SEARCH_PATH NEW_LIB_ROOT

Both versions are read statically (griffe visits the source, it never imports it). The public API is
the top-level `__all__` and everything behind those names: function signatures, classes with their
public members and bases. Output: {"old_all", "new_all", "additions", "breaking": [{name, kind,
detail, file, line}], "notes"}.

griffe's own `find_breaking_changes` finds removed objects, removed/renamed/moved parameters, new
required parameters, changed parameter kinds and defaults, objects that changed kind, fewer base
classes. It deliberately ignores annotation changes, so on top of it (still on griffe's model, no
AST of our own) this adds what our contract also covers: a name dropped from `__all__` (griffe only
sees it if the object is gone altogether), a changed return annotation, a replaced base class (an
error moving from Conflict to NotFound changes its HTTP status and who catches it), a changed error
`code`, and an exception newly listed in a docstring's `Raises:` section.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _load(griffe, package: str, path: str):
    return griffe.load(package, search_paths=[path], try_relative_path=False, allow_inspection=False,
                       resolve_aliases=True, resolve_external=False, docstring_parser="google")


def _exports(mod) -> list[str] | None:
    if mod.exports is None:
        return None
    return [str(e) for e in mod.exports]


def _target(griffe, obj):
    try:
        return obj.final_target if obj.is_alias else obj
    except griffe.AliasResolutionError:
        return None  # re-exported from another distribution: not ours to compare


def _norm(expr) -> str:
    """An annotation/base as text, names spelled by their canonical path so that importing the same
    class differently is not a change."""
    if expr is None:
        return ""
    if isinstance(expr, str):
        return expr
    try:
        parts = expr.iterate(flat=True)
    except AttributeError:
        return str(expr)
    return "".join(getattr(p, "canonical_path", None) or str(p) for p in parts)


def _raises(griffe, func) -> set[str]:
    doc = func.docstring
    if doc is None:
        return set()
    found = set()
    try:
        sections = doc.parse("google", warnings=False)
    except TypeError:  # older signature without `warnings`
        sections = doc.parse("google")
    for section in sections:
        if section.kind is griffe.DocstringSectionKind.raises:
            for item in section.value:
                found.add(_norm(item.annotation).rsplit(".", 1)[-1])
    return found


class Report:
    def __init__(self, new_root: Path, old_root: Path, old_label: str):
        self.new_root, self.old_root, self.old_label = new_root, old_root, old_label
        self.breaking: list[dict] = []
        self.notes: list[str] = []

    def where(self, obj) -> tuple[str, int]:
        if obj is None:
            return "?", 0
        try:
            path = Path(obj.parent.filepath if obj.is_alias else obj.filepath)
            line = (obj.alias_lineno if obj.is_alias else obj.lineno) or 0
        except Exception:  # noqa: BLE001 - a location is a nicety, never a reason to fail the gate
            return "?", 0
        for root, label in ((self.old_root, f" (in {self.old_label})"), (self.new_root, "")):
            try:
                return f"{path.relative_to(root)}{label}", line
            except ValueError:
                continue
        return str(path), line

    def add(self, name: str, kind: str, detail: str, obj) -> None:
        file, line = self.where(obj)
        entry = {"name": name, "kind": kind, "detail": detail, "file": file, "line": line}
        if entry not in self.breaking:
            self.breaking.append(entry)


def _public_name(obj_path: str, targets: dict[str, str]) -> str:
    """`acme_x.service.reserve` -> `reserve` (the name callers use), via the exported targets."""
    for canonical in sorted(targets, key=len, reverse=True):
        if obj_path == canonical or obj_path.startswith(canonical + "."):
            return targets[canonical] + obj_path[len(canonical):]
    return obj_path


def _griffe_breakages(griffe, old, new, old_all, new_all, report: Report, removed: set[str]) -> None:
    # griffe treats every non-underscore submodule as public; our contract is __all__ only, so
    # everything else at the top level is marked private on both sides before the walk.
    for mod, names in ((old, old_all), (new, new_all)):
        for name, member in mod.members.items():
            if name not in names:
                member.public = False
    targets = {}
    for mod, names in ((new, new_all), (old, old_all)):
        for name in names:
            t = _target(griffe, mod.members[name]) if name in mod.members else None
            if t is not None:
                targets[t.path] = name
    for b in griffe.find_breaking_changes(old, new):
        path = b.obj.path
        if b.kind is griffe.BreakageKind.OBJECT_REMOVED and path.rsplit(".", 1)[-1] in removed \
                and path.count(".") == 1:
            continue  # already reported as "removed from __all__"
        name = _public_name(b.obj.path if not b.obj.is_alias else f"{old.path}.{b.obj.name}", targets)
        old_v, new_v = b.old_value, b.new_value
        param = getattr(old_v, "name", None) or getattr(new_v, "name", None)
        if param and b.kind.name.startswith("PARAMETER"):
            name = f"{name}({param})"
        detail = b.kind.value
        if b.details:
            detail += f" ({b.details})"
        elif b.kind is griffe.BreakageKind.OBJECT_CHANGED_KIND:
            detail += f": {old_v.value} -> {new_v.value}"
        elif b.kind is griffe.BreakageKind.RETURN_CHANGED_TYPE:
            detail += f": {_norm(old_v)} -> {_norm(new_v) or 'nothing'}"
        elif b.kind is griffe.BreakageKind.CLASS_REMOVED_BASE:
            detail += f": {[_norm(x) for x in old_v]} -> {[_norm(x) for x in new_v]}"
        report.add(name, b.kind.name.lower(), detail, b.obj)


def _contract_checks(griffe, old, new, common: list[str], report: Report) -> None:
    """What griffe's walk leaves out: return annotations, replaced bases, error codes, Raises."""
    for name in common:
        o, n = _target(griffe, old.members[name]), _target(griffe, new.members[name])
        if o is None or n is None or o.kind != n.kind:
            continue  # kind changes are griffe's
        pairs = [(name, o, n)]
        if o.is_class:
            pairs += [(f"{name}.{m}", o.members[m], n.members[m]) for m in o.members
                      if m in n.members and not m.startswith("_") and o.members[m].is_function
                      and n.members[m].is_function]
            old_bases = [_norm(b) for b in o.bases]
            new_bases = [_norm(b) for b in n.bases]
            gone = [b for b in old_bases if b not in new_bases]
            if gone and len(new_bases) >= len(old_bases):  # fewer bases: griffe reports it
                report.add(name, "class_changed_base", f"base class replaced: {old_bases} -> {new_bases}", n)
            oc, nc = o.members.get("code"), n.members.get("code")
            if oc is not None and nc is not None and oc.is_attribute and nc.is_attribute \
                    and str(oc.value) != str(nc.value):
                report.add(f"{name}.code", "error_code_changed", f"error code changed: {oc.value} -> {nc.value}", nc)
        for label, of, nf in pairs:
            if not (of.is_function and nf.is_function):
                continue
            before, after = _norm(of.returns), _norm(nf.returns)
            # griffe already reports "returned something, now annotated as nothing".
            if before and after and before != after:
                report.add(label, "return_changed", f"return annotation changed: {before} -> {after}", nf)
            new_raises = sorted(_raises(griffe, nf) - _raises(griffe, of))
            if new_raises:
                report.add(label, "raises_added",
                           f"documents new exception(s) in Raises: {', '.join(new_raises)}", nf)


def diff(package: str, old_path: str, new_path: str, new_root: str, old_label: str) -> dict:
    import griffe

    old = _load(griffe, package, old_path)
    new = _load(griffe, package, new_path)
    report = Report(Path(new_root).resolve(), Path(old_path).resolve(), old_label)
    old_all, new_all = _exports(old), _exports(new)
    if new_all is None:
        raise SystemExit(f"{package}/__init__.py defines no __all__: the public API must be listed there")
    if old_all is None:
        old_all = [n for n, m in old.members.items() if not n.startswith("_") and not m.is_module]
        report.notes.append(f"{old_label} has no __all__; its public names were taken instead")
    removed = {n for n in old_all if n not in new_all}
    for name in sorted(removed):
        report.add(name, "removed_from_all", "public name removed from __all__",
                   old.members.get(name))
    _griffe_breakages(griffe, old, new, set(old_all), set(new_all), report, removed)
    common = [n for n in old_all if n in new_all and n in old.members and n in new.members]
    _contract_checks(griffe, old, new, common, report)
    missing = [n for n in new_all if n not in new.members]
    if missing:
        raise SystemExit(f"{package}.__all__ lists names the package does not define: {', '.join(missing)}")
    return {
        "old_all": sorted(old_all),
        "new_all": sorted(new_all),
        "additions": sorted(n for n in new_all if n not in old_all),
        "breaking": report.breaking,
        "notes": report.notes,
    }


if __name__ == "__main__":
    pkg, old_dir, new_dir, lib_root, label = sys.argv[1:6]
    print(json.dumps(diff(pkg, old_dir, new_dir, lib_root, label), indent=1))
