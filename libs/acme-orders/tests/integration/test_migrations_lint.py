"""Every revision's offline SQL passes squawk: expand revisions with no exclusions (see acme-platform)."""
from acme_platform.migrations import lint_domain

from acme_orders.domain import DOMAIN


def test_migrations_pass_the_linter():
    assert lint_domain(DOMAIN) == []
