"""Declarations: what a domain or a service may write down, and what they may not."""
import pytest

from acme_platform.roles import DeclarationError, Privileges, RoleNames, ServiceAccess, function, table


def test_table_expands_to_one_grant_per_privilege_and_column():
    grants = table("accounts", "select", columns=("id", "email"))
    assert [(g.name, g.privilege, g.column) for g in grants] == [("accounts", "SELECT", "id"),
                                                                 ("accounts", "SELECT", "email")]


@pytest.mark.parametrize("bad", [
    lambda: table("billing.postings", "SELECT"),        # another schema: never
    lambda: table("postings"),                            # no privilege
    lambda: table("postings", "TRUNCATE"),               # not a runtime privilege
    lambda: table("postings", "DELETE", columns=("id",)),  # Postgres has no column DELETE
    lambda: function("drop table x"),
    lambda: ServiceAccess(service="storefront", connection_limit=0),
])
def test_bad_declarations_are_refused_at_import(bad):
    with pytest.raises(DeclarationError):
        bad()


def test_platform_tables_are_added_to_every_domain_declaration():
    declared = Privileges(read=(table("products", "SELECT"),), write=(table("products", "UPDATE"),))
    full = declared.with_platform_tables(outbox=True)
    assert {(g.name, g.privilege) for g in full.read} >= {("outbox", "SELECT"), ("alembic_version", "SELECT"),
                                                         ("acme_migration_ledger", "SELECT"), ("products", "SELECT")}
    assert {(g.name, g.privilege) for g in full.write} == {("outbox", "INSERT"), ("products", "UPDATE")}


def test_role_names_derive_from_one_prefix_and_refuse_odd_ones(monkeypatch):
    names = RoleNames.for_database("acme", environ={})
    assert (names.owner("catalog"), names.reader("catalog"), names.writer("catalog"), names.migrator,
            names.service("storefront")) == ("acme_catalog_owner", "acme_catalog_reader", "acme_catalog_writer",
                                             "acme_migrator", "acme_svc_storefront")
    assert RoleNames.for_database("acme", environ={"ACME_ROLE_PREFIX": "prod"}).migrator == "prod_migrator"
    with pytest.raises(ValueError):
        RoleNames.for_database("my-db", environ={})


def test_capabilities_are_kept_apart_from_read_and_write():
    declared = Privileges(read=(table("a", "SELECT"),), capabilities={"audit": table("log", "SELECT", "INSERT")})
    full = declared.with_platform_tables(outbox=False)
    assert {(g.name, g.privilege) for g in full.capability("audit")} == {("log", "SELECT"), ("log", "INSERT")}
    assert "log" not in {g.name for g in full.read + full.write}
    assert full.capability("nope") is None
    hash(declared)   # a DomainSpec holding it stays hashable


@pytest.mark.parametrize("bad", [
    lambda: ServiceAccess(service="s", connection_limit=1, capabilities=("audit",)),         # no domain
    lambda: ServiceAccess(service="s", connection_limit=1, capabilities=("platform.Audit!",)),
    lambda: Privileges(capabilities={"Bad Name": table("log", "SELECT")}),
])
def test_bad_capabilities_are_refused(bad):
    with pytest.raises(DeclarationError):
        bad()
