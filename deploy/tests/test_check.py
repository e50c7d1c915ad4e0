"""`make check` (deploy/acme_stack/check.py): green on the real tree, and each check fails with the file
and line on a violation planted in a throwaway copy of the tree.

Runs the real command (`python3 deploy/stack.py check`, what `make check` runs) with the tools venv
`make test` built (import-linter included), nothing mocked.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import plant, stack_command


def run(root: Path, tools_venv: Path, command: str = "check") -> subprocess.CompletedProcess:
    return stack_command(root, tools_venv, command)


def test_real_tree_passes_and_leaves_the_shared_tools_venv_alone(tree, tools_venv):
    stamp = tools_venv / ".acme-fingerprint"
    before = stamp.read_text()
    res = run(tree, tools_venv)
    assert res.returncode == 0, res.stdout
    assert res.stdout.strip().splitlines()[-1] == "9 passed, 0 failed", res.stdout
    # Every other suite of this run uses that venv: `check` must not have reinstalled it.
    assert stamp.read_text() == before and (tools_venv / "bin" / "uv").exists()


def test_service_importing_a_domain_submodule_fails_with_file_and_line(tree, tools_venv):
    app = tree / "services/storefront/src/storefront/app.py"
    line = plant(app, "from acme_catalog.tables import products as _planted  # noqa: E402, F401 - planted")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"services/storefront/src/storefront/app.py:{line}: storefront.app imports acme_catalog.tables" in res.stdout
    assert "1 failed" in res.stdout.splitlines()[-1]


def test_a_domain_importing_another_domains_submodule_fails(tree, tools_venv):
    service = tree / "libs/acme-orders/src/acme_orders/service.py"
    line = plant(service, "import acme_billing.repository  # noqa: E402, F401 - planted")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"libs/acme-orders/src/acme_orders/service.py:{line}: acme_orders.service imports acme_billing.repository" \
        in res.stdout


def test_importing_a_private_platform_module_fails(tree, tools_venv):
    app = tree / "services/backoffice/src/backoffice/app.py"
    line = plant(app, "from acme_platform._schema import env  # noqa: E402, F401 - planted")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"services/backoffice/src/backoffice/app.py:{line}: backoffice.app imports acme_platform._schema" in res.stdout


def test_an_import_circle_inside_a_function_fails_naming_the_circle(tree, tools_venv):
    # The shape the registry <-> migrations circle had: a one-way import, closed by one hidden in a function.
    skew = tree / "libs/acme-platform/src/acme_platform/migrations/skew.py"
    line = plant(skew, "def _planted():\n    from ..migrations import runner  # planted\n    return runner")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert (f"libs/acme-platform/src/acme_platform/migrations/skew.py:{line + 1}: import circle: "
            "acme_platform.migrations.runner -> acme_platform.migrations.skew -> acme_platform.migrations.runner"
            in res.stdout), res.stdout
    assert "check no import circles (grimp): 1 finding(s)" in res.stdout
    assert "1 failed" in res.stdout.splitlines()[-1]


def test_a_three_module_circle_in_a_service_is_named_in_full(tree, tools_venv):
    pkg = tree / "services/fulfillment/src/fulfillment"
    (pkg / "planted_a.py").write_text("from . import planted_b  # planted\n")
    (pkg / "planted_b.py").write_text("import fulfillment.planted_c  # planted\n")
    (pkg / "planted_c.py").write_text("\n\nfrom .planted_a import *  # planted\n")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert ("services/fulfillment/src/fulfillment/planted_c.py:3: import circle: fulfillment.planted_a -> "
            "fulfillment.planted_b -> fulfillment.planted_c -> fulfillment.planted_a" in res.stdout), res.stdout


def test_the_platform_core_importing_flask_fails(tree, tools_venv):
    db = tree / "libs/acme-platform/src/acme_platform/db.py"
    line = plant(db, "import flask  # planted")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"libs/acme-platform/src/acme_platform/db.py:{line}: acme_platform.db imports flask" in res.stdout, res.stdout
    # The boundary check counts that one import (ruff also reports the unused planted import).
    assert "check import boundaries (import-linter): 1 finding(s)" in res.stdout, res.stdout


def test_the_platform_core_reaching_the_web_edge_through_another_module_fails(tree, tools_venv):
    # uow -> web.problems -> flask: the contract follows chains, not only direct imports.
    uow = tree / "libs/acme-platform/src/acme_platform/uow.py"
    line = plant(uow, "from .web import problems  # planted")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"libs/acme-platform/src/acme_platform/uow.py:{line}: acme_platform.uow imports acme_platform.web" in res.stdout, \
        res.stdout


def test_domain_sql_naming_another_domains_schema_fails_with_file_and_line(tree, tools_venv):
    repo = tree / "libs/acme-catalog/src/acme_catalog/repository.py"
    line = plant(repo, '_PLANTED = "SELECT balance_cents FROM billing.accounts WHERE id = %s"')
    migration = sorted((tree / "libs/acme-orders/src/acme_orders/migrations/versions").glob("*.py"))[0]
    fk_line = plant(migration, '_PLANTED = sa.ForeignKey("catalog.products.id")')
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"libs/acme-catalog/src/acme_catalog/repository.py:{line}: SQL names schema 'billing', owned by acme-billing" \
        in res.stdout
    rel = migration.relative_to(tree).as_posix()
    assert f"{rel}:{fk_line}: foreign key names schema 'catalog', owned by acme-catalog" in res.stdout


def test_domain_sql_naming_the_platform_schema_fails(tree, tools_venv):
    repo = tree / "libs/acme-billing/src/acme_billing/repository.py"
    line = plant(repo, '_PLANTED = "DELETE FROM acme_platform.instances"')
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"libs/acme-billing/src/acme_billing/repository.py:{line}: SQL names schema 'acme_platform'" in res.stdout


def test_another_domains_error_code_or_topic_is_not_sql(tree, tools_venv):
    # `<domain>.<name>` is also how error codes and event topics are spelled; naming them is allowed.
    service = tree / "libs/acme-orders/src/acme_orders/service.py"
    plant(service, '_PLANTED = ("billing.insufficient_funds", "catalog.product_changed")')
    res = run(tree, tools_venv)
    assert res.returncode == 0, res.stdout


def test_stale_codeowners_fails_and_generate_repairs_it(tree, tools_venv):
    codeowners = tree / ".github/CODEOWNERS"
    lines = codeowners.read_text().splitlines()
    n = next(i for i, ln in enumerate(lines) if ln.startswith("/libs/acme-catalog/")) + 1
    codeowners.write_text("\n".join(ln for i, ln in enumerate(lines, 1) if i != n) + "\n")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f".github/CODEOWNERS:{n}: differs from the declarations" in res.stdout
    assert "@acme/team-catalog" in res.stdout  # it says which line is expected

    # A changed declaration makes the committed file stale too; `make generate` derives it again.
    pyproject = tree / "libs/acme-catalog/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('owner = "team-catalog"', 'owner = "team-inventory"'))
    assert run(tree, tools_venv, "generate").returncode == 0
    assert "/libs/acme-catalog/" in codeowners.read_text() and "@acme/team-inventory" in codeowners.read_text()
    res = run(tree, tools_venv)
    assert res.returncode == 0, res.stdout


def test_a_new_domain_gets_its_contract_without_listing_it(tree, tools_venv):
    """A library that registers an `acme.domains` entry point is protected like the others."""
    lib = tree / "libs/acme-shipping"
    (lib / "src/acme_shipping").mkdir(parents=True)
    (lib / "src/acme_shipping/__init__.py").write_text('"""Shipping."""\n')
    (lib / "src/acme_shipping/tables.py").write_text('"""Tables."""\n')
    (lib / "pyproject.toml").write_text(
        '[project]\nname = "acme-shipping"\nversion = "0.1.0"\ndependencies = []\n\n'
        '[project.entry-points."acme.domains"]\nshipping = "acme_shipping.domain:DOMAIN"\n\n'
        '[tool.acme.library]\nowner = "team-shipping"\n')
    (lib / ".github/workflows").mkdir(parents=True)
    (lib / ".github/workflows/ci.yml").write_text((tree / "libs/acme-catalog/.github/workflows/ci.yml").read_text())
    assert run(tree, tools_venv, "generate").returncode == 0
    app = tree / "services/fulfillment/src/fulfillment/app.py"
    line = plant(app, "import acme_shipping.tables  # noqa: E402, F401 - planted")
    res = run(tree, tools_venv)
    assert f"services/fulfillment/src/fulfillment/app.py:{line}: fulfillment.app imports acme_shipping.tables" \
        in res.stdout
    assert "/libs/acme-shipping/" in (tree / ".github/CODEOWNERS").read_text()


def test_stale_package_contract_fails(tree, tools_venv):
    contract = tree / "libs/acme-orders/.importlinter"
    lines = contract.read_text().splitlines()
    n = lines.index("    acme_billing.*") + 1  # a hand edit drops the protection of billing's submodules
    contract.write_text("\n".join(lines[:n - 1] + lines[n:]) + "\n")
    res = run(tree, tools_venv)
    assert res.returncode != 0
    assert f"libs/acme-orders/.importlinter:{n}: differs from the declarations (expected '    acme_billing.*')" \
        in res.stdout


@pytest.mark.parametrize("service", ["storefront", "backoffice", "fulfillment"])
def test_package_contract_runs_against_an_installed_venv(repo_root, test_env, tools_venv, service):
    """What the service's own CI runs: its committed .importlinter over its venv as installed from its
    lock (packages in site-packages, no source tree on the path)."""
    venv = Path(test_env["ACME_TEST_SERVICE_VENVS"]) / service
    site = next(venv.glob("lib/python*/site-packages"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    res = subprocess.run([str(tools_venv / "bin/lint-imports"), "--no-cache"], cwd=repo_root / "services" / service,
                         env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert res.returncode == 0, res.stdout
    assert "0 broken" in res.stdout and "kept" in res.stdout


def test_sql_outside_a_domains_repository_or_in_another_style_fails_with_file_and_line(tree, tools_venv):
    # The data-access convention (data_access.py): a domain's SQL is psycopg %(name)s text in its
    # repository.py, sent with exec_driver_sql. One violation of each kind, planted in a copy.
    service = tree / "libs/acme-orders/src/acme_orders/service.py"
    import_line = plant(service, "import sqlalchemy as _planted_sa")
    send_line = plant(service, "_PLANTED = lambda uow: uow.connection.exec_driver_sql('SELECT 1')")
    billing = tree / "libs/acme-billing/src/acme_billing/repository.py"
    colon_line = plant(billing, '_PLANTED = "SELECT 1 FROM billing.accounts WHERE owner_id = :owner_id"')
    catalog = tree / "libs/acme-catalog/src/acme_catalog/repository.py"
    text_line = plant(catalog, '_PLANTED = sa.text("SELECT sku FROM catalog.products")')
    (tree / "libs/acme-identity/src/acme_identity/repository.py").unlink()
    res = run(tree, tools_venv)
    assert res.returncode != 0
    for expected in (
        f"libs/acme-orders/src/acme_orders/service.py:{import_line}: imports SQLAlchemy: SQL belongs in repository.py",
        f"libs/acme-orders/src/acme_orders/service.py:{send_line}: calls .exec_driver_sql(): SQL belongs in "
        "repository.py",
        f"libs/acme-billing/src/acme_billing/repository.py:{colon_line}: SQL parameter :owner_id in the :name style",
        f"libs/acme-catalog/src/acme_catalog/repository.py:{text_line}: builds SQL with SQLAlchemy text()",
        "libs/acme-identity/src/acme_identity/repository.py:1: missing: a domain keeps its SQL in repository.py",
        "check data access in repositories: 5 finding(s)",
    ):
        assert expected in res.stdout, res.stdout
