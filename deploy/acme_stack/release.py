"""`make release LIB=acme-<domain>`: gate, build and publish ONE library, stopping at the first failure.

1. the library's own tests pass (fresh venv from the index, like its CI);
2. its version is new for the index and higher than the newest published one, and CHANGELOG.md
   has an entry for it (a version already on the index is a re-run: allowed, it must rebuild
   identically, see 6);
3. semver gate on the public API against the newest published version (semver_gate, griffe);
4. a new contract migration requires a major bump;
5. two builds give byte-identical files, `twine check` passes;
6. upload, never changing a published version: identical files already there -> no-op success,
   anything different under this version -> refused before anything is uploaded.

Talks to `make up`'s index unless ACME_INDEX_URL & co. name another (see target.py).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import fingerprint, postgres, proc, projects, publish, semver_gate, target, tools, venvs, versions
from .config import Layout
from .index import Index, normalize
from .ui import Progress, StackError, rel

STEPS = 6


@dataclass
class Lib:
    project: projects.Project
    package: str  # import name
    src_root: Path  # the folder holding the package (src/)

    @property
    def path(self) -> Path:
        return self.project.path

    @property
    def name(self) -> str:
        return self.project.name


def find_lib(root: Path, arg: str) -> Lib:
    if not arg:
        raise StackError("which library? usage: make release LIB=acme-<domain>")
    candidates = [Path(arg), root / arg, root / "libs" / arg]
    path = next((p.resolve() for p in candidates if (p / "pyproject.toml").is_file()), None)
    if path is None:
        known = ", ".join(p.dirname for p in projects._discover(root, "libs")) or "none"
        raise StackError(f"no library {arg!r} (libraries under libs/: {known})")
    project = projects.load(path)
    data = tomllib.loads((path / "pyproject.toml").read_text())
    packages = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {}) \
        .get("packages", [])
    pkg_path = path / packages[0] if len(packages) == 1 else path / "src" / normalize(project.name).replace("-", "_")
    if not (pkg_path / "__init__.py").is_file():
        raise StackError(f"{rel(pkg_path, root)}/__init__.py not found: the library's package must be the only "
                         f"entry of [tool.hatch.build.targets.wheel] packages")
    return Lib(project, pkg_path.name, pkg_path.parent)


# -- 1. tests ---------------------------------------------------------------------------------------
def _test_database(layout: Layout, tmp: Path, ui: Progress) -> tuple[str, postgres.Cluster | None]:
    given = os.environ.get("ACME_TEST_DATABASE_URL", "").strip()
    if given:
        ui.item(f"database for the tests: ACME_TEST_DATABASE_URL ({postgres.masked(given)})")
        return given, None
    run = tmp / "pg"
    run.mkdir()
    os.chmod(tmp, 0o755)
    os.chmod(run, 0o755)
    cluster = postgres.Cluster(Layout(root=layout.root, run=run, tools=layout.tools), proc.free_port(),
                               throwaway=True)
    cluster.ensure()
    ui.item(f"database for the tests: throwaway PostgreSQL on 127.0.0.1:{cluster.port} ({cluster.server.describe()})")
    return cluster.info().url("postgres"), cluster


def run_tests(layout: Layout, lib: Lib, idx: Index, tmp: Path, log: Path, ui: Progress) -> None:
    tests = lib.path / "tests"
    if not projects.has_test_files(tests):
        raise StackError(f"{lib.name} has no tests under {rel(tests, layout.root)}: a release needs its tests to pass")
    venv = tmp / "test-venv"
    venvs.create(layout, venv, log)
    extras = lib.project.extras
    target_spec = f"{lib.path}[test]" if "test" in extras else str(lib.path)
    refresh = [a for dep in sorted(lib.project.acme_deps) for a in ("--refresh-package", dep)]
    # Editable from this tree, every dependency from the index only (--no-config, one index URL):
    # what a polyrepo CI of this library would install.
    venvs.pip_install(layout, venv, idx, ["-e", target_spec, *([] if "test" in extras else ["pytest"]), *refresh],
                      log=log, what=f"installing {lib.name} and its test dependencies from the index")
    url, cluster = _test_database(layout, tmp, ui)
    try:
        env = proc.isolated_env({"ACME_TEST_DATABASE_URL": url, "VIRTUAL_ENV": str(venv),
                                 "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                                 "PYTHONDONTWRITEBYTECODE": "1"}, drop=("DATABASE_URL",))
        res = proc.run([venvs.py(venv), "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
                       log=log, what="tests", env=env, cwd=lib.path, timeout=3600, check=False)
    finally:
        if cluster is not None:
            cluster.stop("immediate")
    summary = _pytest_summary(log)
    if res.returncode != 0:
        raise StackError(f"{lib.name}'s tests failed ({summary or f'pytest exit {res.returncode}'}): fix them "
                         f"before releasing", log, detail="\n".join(_log_tail(log, 25)))
    ui.item(summary or "tests passed")


def _log_tail(log: Path, n: int) -> list[str]:
    return log.read_text(errors="replace").splitlines()[-n:]


def _pytest_summary(log: Path) -> str:
    for line in reversed(_log_tail(log, 50)):
        s = line.strip().strip("=").strip()
        if " in " in s and any(w in s for w in ("passed", "failed", "error")):
            return s
    return ""


# -- 2. version + changelog -------------------------------------------------------------------------
def changelog_has(lib: Path, version: str) -> bool:
    try:
        text = (lib / "CHANGELOG.md").read_text(encoding="utf-8")
    except OSError:
        return False
    entry = re.compile(rf"^#+\s.*(?<![\w.]){re.escape(version)}(?![\w.])")
    return any(entry.match(line) for line in text.splitlines())


def check_version(lib: Lib, published: dict[str, dict[str, str]], ui: Progress) -> tuple[versions.Version,
                                                                                       versions.Version | None, bool]:
    """Returns (new version, baseline to compare with, already published)."""
    new = versions.parse(lib.project.version)
    existing = versions.sorted_versions(published)
    rerun = lib.project.version in published
    if rerun:
        ui.item(f"{lib.name} {new} is already on the index: a re-run, allowed only if the build is identical (step 6)")
    elif existing and new <= existing[0]:
        raise StackError(f"{lib.name} {new} is not higher than the newest published version {existing[0]}: "
                         f"set a higher version in {lib.path.name}/pyproject.toml (and a CHANGELOG.md entry)")
    if not changelog_has(lib.path, lib.project.version):
        raise StackError(f"{lib.path.name}/CHANGELOG.md has no entry for {new}: add a `## {new} - <date>` section "
                         f"saying what changed (and, for a major release, how to migrate)")
    # Pre-releases are no contract, so the gate compares with the newest final release below us.
    older = [v for v in existing if v < new and not v.is_prerelease]
    baseline = older[0] if older else None
    if not rerun:
        ui.item(f"{new} is new; newest published: {existing[0] if existing else 'none (first release)'}")
    ui.item(f"CHANGELOG.md has an entry for {new}")
    return new, baseline, rerun


# -- 5. build ---------------------------------------------------------------------------------------
def build_twice(layout: Layout, lib: Lib, tmp: Path, log: Path, ui: Progress) -> list[Path]:
    # Side by side (each from its own staged copy): same answer, half the wait on two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(publish.build, layout, lib.path, tmp / f"dist-{n}", log) for n in (1, 2)]
        first, second = (r.result() for r in runs)
    a = {f.name: fingerprint.sha256_file(f) for f in first}
    b = {f.name: fingerprint.sha256_file(f) for f in second}
    if a != b:
        differing = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))
        raise StackError(f"two builds of the same tree differ ({', '.join(differing)}): the build is not "
                         f"reproducible (a build hook writing timestamps or random data?)", log)
    for f in first:
        ui.item(f"{f.name}  sha256 {a[f.name]}  (identical in both builds)")
    proc.run([tools.bin(layout, "twine"), "check", *first], log=log, what="twine check",
             env=proc.isolated_env())
    ui.item("twine check: passed")
    return first


# -- 6. upload --------------------------------------------------------------------------------------
def upload(layout: Layout, lib: Lib, idx: Index, files: list[Path], held: dict[str, str], log: Path,
           ui: Progress) -> str:
    local = {f.name: fingerprint.sha256_file(f) for f in files}
    label = f"{lib.name} {lib.project.version}"
    # pypiserver only refuses to overwrite a file NAME; a version is immutable as a whole, so
    # anything the index holds under this version must be one of our files, byte for byte.
    different = sorted(n for n, sha in held.items() if local.get(n) != sha)
    if different:
        raise StackError(f"{label} is already published with different content ({', '.join(different)}); released "
                         f"versions are immutable: bump the version in {lib.path.name}/pyproject.toml "
                         f"(and add a CHANGELOG.md entry). Nothing was uploaded", log)
    todo = [f for f in files if f.name not in held]
    if not todo:
        ui.item("the index already holds exactly these files: nothing to upload")
        return f"{label} was already published with identical content: nothing to do"
    publisher = publish.upload(layout, lib.project, idx, todo, log, label)
    served = idx.files(lib.name)
    for f in todo:
        if served.get(f.name) != local[f.name]:
            raise StackError(f"uploaded {f.name} but the index does not serve it with the same sha256", log)
        ui.item(f"uploaded {f.name} (as {publisher})")
    return f"{label} published" + (" (completed a partial earlier upload)" if held else "")


def release(layout: Layout, lib_arg: str) -> int:
    lib = find_lib(layout.root, lib_arg)
    log = layout.log("release")
    with open(log, "a") as fh:
        fh.write(f"\n===== release {lib.name} {lib.project.version} =====\n")
    ui = Progress(STEPS)
    ui.say(f"releasing {lib.name} {lib.project.version} from {rel(lib.path, layout.root)} (log: {rel(log, layout.root)})")
    ui.say(f"tools venv: {tools.ensure(layout, layout.log('tools'))}")
    idx = target.select(layout)
    # Before any gate runs: a release that could not upload at the end should not take minutes to say so.
    publisher = idx.publish_login(lib.project.owner)[0]
    ui.say(f"index: {target.describe(idx)}; reads with the deploy login, uploads as {publisher} "
           f"(owner: {lib.project.owner})")
    tmp = Path(tempfile.mkdtemp(prefix="acme-release-"))
    try:
        ui.step("the library's own tests…")
        run_tests(layout, lib, idx, tmp, log, ui)

        ui.step("version and changelog…")
        published = versions.published(idx, lib.name)
        new, baseline, _ = check_version(lib, published, ui)

        ui.step(f"semver gate: public API against {f'{lib.name} {baseline}' if baseline else 'the previous release'}…")
        old_pkg = None
        if baseline is None:
            ui.item("first release: no earlier published version to compare with")
        else:
            unpacked = semver_gate.fetch_published(layout, idx, lib.name, str(baseline), tmp / "published", log)
            old_pkg = unpacked / lib.package
            diff = semver_gate.api_diff(layout, lib.package, unpacked, lib.path, lib.src_root,
                                        f"{lib.name} {baseline}", log)
            semver_gate.check_api(diff, lib.name, baseline, new, ui)

        ui.step("migrations: contract revisions…")
        if baseline is None:
            ui.item("first release: nothing to compare with")
        else:
            assert old_pkg is not None  # set with baseline above
            semver_gate.check_migrations(semver_gate.contract_revisions(lib.src_root / lib.package),
                                         semver_gate.contract_revisions(old_pkg), lib.path, lib.name,
                                         baseline, new, ui)

        ui.step("reproducible build (twice) + twine check…")
        files = build_twice(layout, lib, tmp, log, ui)

        ui.step(f"upload to {idx.simple_url}…")
        # Re-read: another run may have published this version since step 2.
        held = versions.published(idx, lib.name).get(lib.project.version, {})
        ui.say(upload(layout, lib, idx, files, held, log, ui))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
