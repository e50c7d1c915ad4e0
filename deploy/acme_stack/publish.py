"""Build every library under libs/ and publish it to the private index, never overwriting.

Builds run from a staged copy holding exactly the files a clone would have (git's view of the
tree), with `python -m build --no-isolation` against the pinned hatchling in the tools venv.
Hatchling builds are reproducible by default (fixed mtimes, sorted entries, normalised modes), so
rebuilding an unchanged tree gives byte-identical files: re-publishing is a no-op, and a changed
tree under an unchanged version is caught and refused.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from . import fingerprint, proc, projects, tools
from .config import Layout
from .index import Index
from .ui import Progress, StackError, tail


def stage(root: Path, lib: Path, dest: Path) -> Path:
    """Copy the lib's clone-visible files into dest/<lib name>."""
    target = dest / lib.name
    for f in fingerprint.source_files(root, lib):
        out = target / f.relative_to(lib)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, out)
    return target


def build(layout: Layout, lib: Path, outdir: Path, log: Path) -> list[Path]:
    """Build sdist + wheel of `lib` into outdir; returns the files."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="acme-build-") as tmp:
        staged = stage(layout.root, lib, Path(tmp))
        proc.run([tools.python(layout), "-m", "build", "--no-isolation", "--outdir", outdir, staged],
                 log=log, what=f"building {lib.name}", env=proc.isolated_env(), timeout=300)
    files = sorted(p for p in outdir.iterdir() if p.suffix in (".whl", ".gz"))
    if not files:
        raise StackError(f"building {lib.name} produced no distributions", log)
    return files


def _twine_env(login: tuple[str, str]) -> dict[str, str]:
    # Credentials via the environment (not argv, which `ps` shows); the null keyring keeps twine
    # from probing a desktop keyring, which hangs or fails in CI with no session bus.
    return proc.isolated_env({"TWINE_USERNAME": login[0], "TWINE_PASSWORD": login[1],
                              "TWINE_NON_INTERACTIVE": "1",
                              "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})


# twine: "HTTPError: 403 Forbidden from <url>" and, on the next line, the index's reason phrase.
_REFUSAL = re.compile(r"HTTPError: (40[139]) [A-Za-z ]*from \S+ (.*)")


def upload(layout: Layout, lib: projects.Project, idx: Index, files: list[Path], log: Path, label: str) -> str:
    """twine upload with the OWNING team's publish login; returns that login's user name. A refusal by
    the index (403: not the owner) becomes one line naming the package and its owner."""
    login = idx.publish_login(lib.owner)
    start = log.stat().st_size if log.exists() else 0
    res = proc.run([tools.bin(layout, "twine"), "upload", "--non-interactive", "--disable-progress-bar",
                    "--repository-url", idx.upload_url, *files],
                   log=log, what=f"uploading {label} as {login[0]}", env=_twine_env(login), timeout=300, check=False)
    if res.returncode != 0:
        with open(log, errors="replace") as fh:
            fh.seek(start)
            out = " ".join(fh.read().split())
        m = _REFUSAL.search(out)
        if m:
            raise StackError(f"the index refused {label} from {login[0]} (HTTP {m.group(1)}): {m.group(2).strip()}", log)
        raise StackError(f"uploading {label} as {login[0]} failed (exit {res.returncode})", log,
                         detail=tail(log, 15))
    return login[0]


def publish_lib(layout: Layout, lib: projects.Project, idx: Index, log: Path, state: dict) -> str:
    """Returns a status line. Raises on a version that exists with different content."""
    src_hash = fingerprint.source_tree(layout.root, lib.path)
    label = f"{lib.name} {lib.version}"
    known = state.get(lib.name, {})
    if known.get("source") == src_hash and known.get("version") == lib.version and known.get("files"):
        served = idx.files(lib.name)
        if all(served.get(name) == sha for name, sha in known["files"].items()):
            return f"{label}: already published, nothing to do"

    with tempfile.TemporaryDirectory(prefix="acme-dist-") as tmp:
        files = build(layout, lib.path, Path(tmp), log)
        proc.run([tools.bin(layout, "twine"), "check", *files], log=log,
                 what=f"twine check of {label}", env=proc.isolated_env())
        served = idx.files(lib.name)
        local = {f.name: fingerprint.sha256_file(f) for f in files}
        # Check every file before uploading any, so a conflict never leaves a half-published release.
        for name, sha in local.items():
            if name in served and served[name] != sha:
                raise StackError(f"{label} is already published with different content; bump the version "
                                 f"(libs/{lib.dirname}/pyproject.toml)", log)
        todo = [f for f in files if f.name not in served]
        if todo:
            upload(layout, lib, idx, todo, log, label)
            served = idx.files(lib.name)
            for f in todo:
                if served.get(f.name) != local[f.name]:
                    raise StackError(f"uploaded {f.name} but the index does not serve it with the same sha256", log)
    state[lib.name] = {"version": lib.version, "source": src_hash, "files": local}
    return f"{label}: {'published' if todo else 'already published (identical build), nothing to do'}"


def publish_all(layout: Layout, idx: Index, ui: Progress) -> list[projects.Project]:
    libs = projects.libs(layout.root)
    if not libs:
        ui.item("no libraries under libs/ yet, nothing to publish")
        return libs
    log = layout.log("publish")
    state_path = layout.state / "published.json"
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        state = {}
    try:
        for lib in libs:
            ui.item(publish_lib(layout, lib, idx, log, state))
    finally:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    return libs
