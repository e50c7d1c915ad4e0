"""Steps 3 and 4 of a release: compare with the newest published version of the same library.

3. Public API: the published wheel is downloaded from the index (pip, hash-checked) and unpacked;
   `api_diff.py` runs griffe on it and on src/ in the tools venv and lists breaking changes (with
   file and line) and additions. Breaking -> a major bump is required; additions -> at least minor.
4. Migrations: a revision with `phase = "contract"` (see acme_platform.migrations.skew) that the
   published version did not have also requires a major bump.

In 0.x versions everything shifts one place (see versions.bump_kind).
"""
from __future__ import annotations

import ast
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import proc, tools, versions
from .config import Layout
from .index import Index
from .ui import Progress, StackError

API_DIFF = Path(__file__).with_name("api_diff.py")


@dataclass
class ApiDiff:
    breaking: list[dict] = field(default_factory=list)
    additions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fetch_published(layout: Layout, idx: Index, project: str, version: str, dest: Path, log: Path) -> Path:
    """Download the published wheel (pip checks it against the index's #sha256) and unpack it."""
    dl = dest / "download"
    # PIP_CONFIG_FILE=/dev/null (pip then reads no config file at all) and no inherited PIP_*: only the
    # index we name. It goes in PIP_INDEX_URL, not --index-url: the command line would show the password
    # to `ps` (and --isolated, which would also ignore PIP_INDEX_URL, is therefore not used).
    proc.run([tools.python(layout), "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
              "--no-deps", "--only-binary=:all:", "--no-cache-dir", "--dest", dl, f"{project}=={version}"],
             log=log, what=f"downloading {project} {version} from the index",
             env=proc.isolated_env({"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": idx.simple_url_with_auth(),
                                    "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}), timeout=300)
    wheels = sorted(dl.glob("*.whl"))
    if len(wheels) != 1:
        raise StackError(f"expected one wheel of {project} {version} from the index, got {len(wheels)}", log)
    unpacked = dest / "unpacked"
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extractall(unpacked)
    return unpacked


def api_diff(layout: Layout, package: str, old_root: Path, lib: Path, src_root: Path, label: str,
             log: Path) -> ApiDiff:
    res = proc.capture([tools.python(layout), API_DIFF, package, old_root, src_root, lib, label],
                       env=proc.isolated_env(), timeout=300)
    with open(log, "a") as fh:
        fh.write(f"\n$ api_diff {package} ({label} -> {src_root})\n{res.stderr}{res.stdout}\n")
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        raise StackError(f"comparing the API failed: {lines[-1] if lines else f'exit {res.returncode}'}", log)
    data = json.loads(res.stdout)
    return ApiDiff(data["breaking"], data["additions"], data["notes"])


def _module_constants(path: Path, names: tuple[str, ...]) -> dict:
    """Literal module-level assignments (`phase = "contract"`, `revision: str = "x"`) of one file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return {}
    found = {}
    for node in tree.body:
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id in names and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                pass
    return found


def contract_revisions(package_dir: Path) -> dict[str, Path]:
    """revision id -> file for every Alembic revision in the package declaring phase = "contract"."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        consts = _module_constants(path, ("revision", "phase"))
        if consts.get("phase") == "contract" and isinstance(consts.get("revision"), str):
            found[consts["revision"]] = path
    return found


def _require(kind: str, have: str) -> bool:
    return versions.BUMPS.index(have) >= versions.BUMPS.index(kind)


def _bump_hint(name: str, base: versions.Version, new: versions.Version, need: str) -> str:  # noqa: ARG001 - kept so every hint is called with the same arguments
    return (f"release it as {name} {versions.next_version(base, need)} (or higher): set that version in "
            f"pyproject.toml and add a CHANGELOG.md entry")


def check_api(diff: ApiDiff, name: str, base: versions.Version, new: versions.Version, ui: Progress) -> None:
    have = versions.bump_kind(base, new)
    for note in diff.notes:
        ui.item(f"note: {note}")
    if diff.breaking:
        ui.item(f"{len(diff.breaking)} breaking change(s) since {base}:")
        for b in diff.breaking:
            ui.item(f"  {b['file']}:{b['line']}: {b['name']}: {b['detail']}")
    if diff.additions:
        ui.item(f"added to __all__: {', '.join(diff.additions)}")
    if diff.breaking and not _require("major", have):
        raise StackError(f"{name} {new} is a {have} release, but the public API has {len(diff.breaking)} breaking "
                         f"change(s) since {base} (listed above), which need a major one: "
                         f"{_bump_hint(name, base, new, 'major')}, or keep the old API")
    if diff.additions and not _require("minor", have):
        raise StackError(f"{name} {new} is a patch release, but it adds to the public API "
                         f"({', '.join(diff.additions)}), which needs at least a minor one: "
                         f"{_bump_hint(name, base, new, 'minor')}")
    if not diff.breaking and not diff.additions:
        ui.item(f"public API unchanged since {base}")
    ui.item(f"{have} release: ok")


def check_migrations(new_revs: dict[str, Path], old_revs: dict[str, Path], lib: Path, name: str,
                     base: versions.Version, new: versions.Version, ui: Progress) -> None:
    added = {r: p for r, p in new_revs.items() if r not in old_revs}
    if not added:
        ui.item(f"no new contract migration since {base}")
        return
    for rev, path in sorted(added.items()):
        ui.item(f"contract migration {rev}: {path.relative_to(lib)}")
    have = versions.bump_kind(base, new)
    if not _require("major", have):
        raise StackError(f"{name} {new} is a {have} release, but it adds contract migration(s) "
                         f"{', '.join(sorted(added))}, which remove or change what {base} relies on: "
                         f"{_bump_hint(name, base, new, 'major')}")
    ui.item(f"{have} release: ok")
