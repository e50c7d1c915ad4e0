"""The all-in-one deployable is built from the services' own locks, and only when they agree.

`make up SHAPE=monolith` installs the union of services/*/requirements.lock; two services pinning one
library at different versions have no union, and the build must refuse with ONE line naming the library
and each service's pin, before it starts or installs anything. Checked on a throwaway copy of the tree
with a planted mismatch (the real locks must agree: that is the first test).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stack_support import overlay


@pytest.fixture
def copy(repo_root, tmp_path) -> Path:
    dest = tmp_path / "repo"
    overlay(repo_root, dest)
    return dest


def up_monolith(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "deploy" / "stack.py"), "up", "--shape", "monolith"],
                          cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "ACME_PG_PORT": "1", "ACME_INDEX_PORT": "1"})


def merged(root: Path) -> str:
    sys.path.insert(0, str(root / "deploy"))
    try:
        for name in [m for m in sys.modules if m == "acme_stack" or m.startswith("acme_stack.")]:
            del sys.modules[name]
        from acme_stack import monolith, projects
        return monolith.merged_lock(projects.services(root))
    finally:
        sys.path.pop(0)


def test_the_services_locks_agree_and_their_union_keeps_every_pin_and_hash(repo_root):
    union = merged(repo_root)
    for lock in sorted((repo_root / "services").glob("*/requirements.lock")):
        for pin, hashes in re.findall(r"^(\S+==\S+) \\\n((?:\s+--hash=\S+ ?\\?\n)+)", lock.read_text(), re.M):
            assert re.search(rf"^{re.escape(pin)} \\$", union, re.M), f"{pin} of {lock.parent.name} missing"
            for digest in re.findall(r"sha256:[0-9a-f]{64}", hashes):
                assert digest in union, f"{pin} of {lock.parent.name}: hash {digest} missing from the union"


def test_a_planted_pin_mismatch_refuses_the_build_with_one_line(copy):
    lock = copy / "services" / "fulfillment" / "requirements.lock"
    text = lock.read_text()
    version = re.search(r"^acme-catalog==(\S+) \\$", text, re.M).group(1)
    lock.write_text(text.replace(f"acme-catalog=={version} \\", "acme-catalog==0.9.0 \\"))

    res = up_monolith(copy)

    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "acme-catalog" in lines[0] and "fulfillment pins 0.9.0" in lines[0]
    assert f"storefront pins {version}" in lines[0] and f"backoffice pins {version}" in lines[0]
    # Refused before anything started or was installed.
    assert res.stdout == "" and not (copy / ".run").exists()


def test_a_planted_third_party_mismatch_is_refused_too(copy):
    lock = copy / "services" / "backoffice" / "requirements.lock"
    text = lock.read_text()
    version = re.search(r"^flask==(\S+) \\$", text, re.M).group(1)
    lock.write_text(text.replace(f"flask=={version} \\", "flask==2.0.0 \\"))

    res = up_monolith(copy)

    assert res.returncode == 1
    assert "flask" in res.stderr and "backoffice pins 2.0.0" in res.stderr and len(res.stderr.strip().splitlines()) == 1
