import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def write_test_domain(root: Path, *, name: str = "testdom", revisions: dict[str, str], version: str = "1.0.0",
                      depends_on: tuple[str, ...] = ()) -> Path:
    """Lay out an *installed* domain package (code + .dist-info with its entry point) under root.

    This is exactly what a wheel install produces, so the platform discovers it through
    importlib.metadata like any real domain.
    """
    pkg = root / f"acme_{name}"
    versions = pkg / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "migrations" / "__init__.py").write_text("")
    (versions / "__init__.py").write_text("")
    (pkg / "migrations" / "env.py").write_text(
        f"from acme_platform.migrations import run_env\nrun_env(schema={name!r})\n")
    (pkg / "domain.py").write_text(textwrap.dedent(f"""
        from acme_platform import DomainSpec
        DOMAIN = DomainSpec(name={name!r}, package="acme-{name}", schema={name!r},
                            migrations="acme_{name}.migrations", depends_on={depends_on!r})
    """))
    for filename, body in revisions.items():
        (versions / filename).write_text(textwrap.dedent(body))
    dist = root / f"acme_{name}-{version}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: acme-{name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[acme.domains]\n{name} = acme_{name}.domain:DOMAIN\n")
    return root


def revision(rev: str, down: str | None, upgrade: str, phase: str = "expand") -> str:
    body = textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
    return (
        "from alembic import op\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n"
        f"phase = {phase!r}\n\n\ndef upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n"
    )


@pytest.fixture
def domain_on_path(tmp_path, monkeypatch):
    """Returns a function that installs a test domain under tmp_path and puts it on sys.path."""
    created = []

    def install(**kwargs) -> Path:
        root = write_test_domain(tmp_path / f"site{len(created)}", **kwargs)
        monkeypatch.syspath_prepend(str(root))
        created.append(root)
        import importlib
        importlib.invalidate_caches()
        return root

    yield install
    for _root in created:
        for mod in [m for m in sys.modules if m.startswith("acme_testdom")]:
            del sys.modules[mod]
