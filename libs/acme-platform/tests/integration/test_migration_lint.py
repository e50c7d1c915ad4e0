"""squawk lints each revision's offline SQL: expand must be clean, contract may only drop/rename."""
import importlib
import sys

from acme_platform.domains import installed_domains
from acme_platform.migrations.lint import lint_domain

from ..conftest import revision

CLEAN_EXPAND = revision("ln0001", None, """
    op.execute("CREATE TABLE testdom.things (id bigint PRIMARY KEY, name text NOT NULL)")
""")
NULLABLE_COLUMN = revision("ln0002", "ln0001", "op.execute('ALTER TABLE testdom.things ADD COLUMN colour text')")
DROP_IN_EXPAND = revision("ln0002", "ln0001", "op.execute('ALTER TABLE testdom.things DROP COLUMN name')")
DROP_IN_CONTRACT = revision("ln0002", "ln0001", "op.execute('ALTER TABLE testdom.things DROP COLUMN name')",
                            phase="contract").replace("phase = 'contract'",
                                                      "phase = 'contract'\nmin_compatible_version = '1.1.0'")
UNSAFE_IN_CONTRACT = DROP_IN_CONTRACT.replace(
    "DROP COLUMN name')", "DROP COLUMN name'); op.execute('ALTER TABLE testdom.things ADD COLUMN n int NOT NULL')")


def lint(domain_on_path, revisions):
    for mod in [m for m in sys.modules if m.startswith("acme_testdom")]:
        del sys.modules[mod]
    domain_on_path(revisions=revisions)
    importlib.invalidate_caches()
    spec = next(s for s in installed_domains(["testdom"]) if s.name == "testdom")
    return lint_domain(spec)


def test_clean_expand_revisions_pass(domain_on_path):
    assert lint(domain_on_path, {"a.py": CLEAN_EXPAND, "b.py": NULLABLE_COLUMN}) == []


def test_drop_in_an_expand_revision_is_flagged(domain_on_path):
    findings = lint(domain_on_path, {"a.py": CLEAN_EXPAND, "b.py": DROP_IN_EXPAND})
    assert [(f.revision, f.phase) for f in findings] == [("ln0002", "expand")]
    assert "ban-drop-column" in findings[0].message


def test_contract_may_drop_but_nothing_else(domain_on_path):
    assert lint(domain_on_path, {"a.py": CLEAN_EXPAND, "b.py": DROP_IN_CONTRACT}) == []
    findings = lint(domain_on_path, {"a.py": CLEAN_EXPAND, "b.py": UNSAFE_IN_CONTRACT})
    rules = " ".join(f.message for f in findings)
    assert "adding-required-field" in rules and "ban-drop-column" not in rules
