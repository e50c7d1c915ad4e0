"""Library versions: parsing, ordering, what kind of bump a release is, versions on the index.

Our libraries use semver `MAJOR.MINOR.PATCH`, optionally with a pre-release suffix (`2.0.0rc1`,
`1.3.0b2`). That small subset of PEP 440 is parsed here with the stdlib, so the orchestrator stays
free of third-party imports; anything else is refused with a message rather than guessed at.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .index import Index, normalize
from .ui import StackError

_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(a|b|rc)(\d+))?$")
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}
BUMPS = ("patch", "minor", "major")  # in increasing order


@dataclass(frozen=True, order=True)
class Version:
    key: tuple
    text: str

    @property
    def release(self) -> tuple[int, int, int]:
        return self.key[:3]

    @property
    def is_prerelease(self) -> bool:
        return self.key[3] < 3

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> Version:
    m = _VERSION.match(text.strip())
    if not m:
        raise StackError(f"version {text!r} is not MAJOR.MINOR.PATCH (optionally with aN/bN/rcN)")
    major, minor, patch = (int(g or 0) for g in m.group(1, 2, 3))
    # A final release sorts after its pre-releases: 2.0.0rc1 < 2.0.0.
    pre = (_PRE_ORDER[m.group(4)], int(m.group(5))) if m.group(4) else (3, 0)
    return Version((major, minor, patch, *pre), text.strip())


def try_parse(text: str) -> Version | None:
    try:
        return parse(text)
    except StackError:
        return None


def bump_kind(base: Version, new: Version) -> str:
    """What kind of release `new` is relative to `base`. In 0.x everything shifts one place: 0.2 -> 0.3
    is the breaking (major) bump and 0.2.0 -> 0.2.1 the compatible (minor) one, the convention our
    `acme-platform>=0.2,<0.3` ranges rely on."""
    (bM, bm, _), (nM, nm, _) = base.release, new.release
    if nM > bM or (nM == bM == 0 and nm > bm):
        return "major"
    if nm > bm or nM == 0:  # 0.x: the patch number is the "compatible additions" one
        return "minor"
    return "patch"


def next_version(base: Version, kind: str) -> str:
    major, minor, patch = base.release
    if kind == "major":
        return f"0.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    if kind == "minor":
        return f"{major}.{minor}.{patch + 1}" if major == 0 else f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def version_of_file(project: str, filename: str) -> str | None:
    """The version in a wheel or sdist file name of `project`, or None for another project's file."""
    stem = filename
    if stem.endswith(".whl"):
        parts = stem[:-4].split("-")
        if len(parts) < 5:
            return None
        name, version = parts[0], parts[1]
    elif stem.endswith((".tar.gz", ".zip")):
        stem = stem[:-7] if stem.endswith(".tar.gz") else stem[:-4]
        name, _, version = stem.rpartition("-")
    else:
        return None
    return version if normalize(name) == normalize(project) else None


def published(idx: Index, project: str) -> dict[str, dict[str, str]]:
    """version -> {filename: sha256} for everything the index serves for `project`."""
    result: dict[str, dict[str, str]] = {}
    for filename, sha in idx.files(project).items():
        version = version_of_file(project, filename)
        if version:
            result.setdefault(version, {})[filename] = sha
    return result


def sorted_versions(texts) -> list[Version]:
    """Parsable versions, newest first (unparsable ones are not ours to order)."""
    return sorted((v for v in map(try_parse, texts) if v), reverse=True)
