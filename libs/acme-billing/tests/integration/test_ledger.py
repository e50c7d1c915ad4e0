import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import acme_billing as billing
from acme_billing.tables import metadata


def test_check_ledger_passes_on_the_shared_database(database, funded):
    owner_id = funded(1_000)
    with database.unit_of_work() as uow:
        billing.charge(uow, owner_id, 400, "USD", reference="o")
        billing.refund(uow, owner_id, 100, reference="o")
    with database.unit_of_work() as uow:
        report = billing.check_ledger(uow)
    assert report.problems == []
    assert report.balanced
    assert report.postings_checked >= 3


@pytest.fixture
def ledger(fresh_database):
    """A fresh database with a small, correct ledger: who, and its charge posting id."""
    with fresh_database.unit_of_work() as uow:
        billing.open_account(uow, "alice")
        billing.open_account(uow, "bob")
        billing.credit(uow, "alice", 1_000, reference="seed")
        billing.credit(uow, "bob", 500, reference="seed")
        charge = billing.charge(uow, "alice", 300, "USD", reference="order-1")
        billing.refund(uow, "alice", 100, reference="order-1")
    with fresh_database.unit_of_work() as uow:
        report = billing.check_ledger(uow)
    assert report == billing.LedgerReport(balanced=True, postings_checked=4, problems=[])
    return fresh_database, charge.id


def _corrupt(db, sql, **params):
    with db.unit_of_work() as uow:
        uow.connection.exec_driver_sql(sql, params)


def _report(db):
    with db.unit_of_work() as uow:
        return billing.check_ledger(uow)


def test_detects_an_unbalanced_entry(ledger):
    db, charge_id = ledger
    _corrupt(db, "INSERT INTO billing.entries (posting_id, account_id, amount_cents) "
                 "SELECT %(p)s, id, 5 FROM billing.accounts WHERE owner_id = 'system:grants:USD'", p=charge_id)
    report = _report(db)
    assert not report.balanced
    assert report.postings_checked == 4
    assert len(report.problems) == 1
    assert charge_id in report.problems[0]
    assert "sum to 5" in report.problems[0]


def test_detects_an_entry_whose_amount_was_changed(ledger):
    db, charge_id = ledger
    _corrupt(db, "UPDATE billing.entries SET amount_cents = -299 WHERE posting_id = %(p)s AND amount_cents = -300",
             p=charge_id)
    report = _report(db)
    assert not report.balanced
    # The posting no longer balances, and alice's cached balance no longer matches her entries.
    assert any(charge_id in p and "sum to 1" in p for p in report.problems)
    assert any("'alice'" in p and "cached balance 800 != sum of entries 801" in p for p in report.problems)


def test_detects_a_cached_balance_that_drifted(ledger):
    db, _ = ledger
    _corrupt(db, "UPDATE billing.accounts SET balance_cents = balance_cents + 7 WHERE owner_id = 'bob'")
    report = _report(db)
    assert report.problems == ["account of 'bob': cached balance 507 != sum of entries 500"]


def test_detects_money_moved_to_the_wrong_account(ledger):
    db, charge_id = ledger
    # Balanced, but the charge now pays bob instead of revenue.
    _corrupt(db, "UPDATE billing.entries SET account_id = (SELECT id FROM billing.accounts "
                 "WHERE kind = 'customer' AND owner_id = 'bob') WHERE posting_id = %(p)s AND amount_cents = 300",
             p=charge_id)
    _corrupt(db, "UPDATE billing.accounts SET balance_cents = balance_cents + 300 WHERE owner_id = 'bob'")
    report = _report(db)
    assert [p for p in report.problems if charge_id in p] == [
        f"posting {charge_id} (charge 300 USD for 'alice'): system side is 0, not 300"
    ]


def test_detects_an_entry_on_an_account_that_does_not_exist(ledger):
    db, charge_id = ledger
    _corrupt(db, "UPDATE billing.entries SET account_id = %(a)s WHERE posting_id = %(p)s AND amount_cents = 300",
             a=str(uuid.uuid4()), p=charge_id)
    report = _report(db)
    assert report.problems == [
        f"posting {charge_id} (charge 300 USD for 'alice'): system side is 0, not 300; 1 entries on unknown accounts"
    ]


def test_detects_refunds_beyond_the_charge(ledger):
    db, _ = ledger
    posting_id = str(uuid.uuid4())
    # A well-formed refund posting that the API would have refused (300 charged, 100 + 250 refunded).
    _corrupt(db, """
        WITH p AS (
            INSERT INTO billing.postings (id, kind, owner_id, amount_cents, currency, reference,
                                          balance_after_cents, created_at)
            VALUES (%(p)s, 'refund', 'alice', 250, 'USD', 'order-1', 1050, now()) RETURNING id
        ), c AS (
            UPDATE billing.accounts SET balance_cents = balance_cents + 250
            WHERE kind = 'customer' AND owner_id = 'alice'
        )
        INSERT INTO billing.entries (posting_id, account_id, amount_cents)
        SELECT p.id, a.id, CASE a.kind WHEN 'customer' THEN 250 ELSE -250 END
        FROM p, billing.accounts a
        WHERE (a.kind, a.owner_id) IN (('customer', 'alice'), ('system', 'system:revenue:USD'))
    """, p=posting_id)
    report = _report(db)
    assert report.problems == ["reference 'order-1' of 'alice': refunded 350 exceeds charged 300"]


def test_detects_a_posting_without_entries(ledger):
    db, _ = ledger
    posting_id = str(uuid.uuid4())
    _corrupt(db, "INSERT INTO billing.postings (id, kind, owner_id, amount_cents, currency, reference, "
                 "balance_after_cents, created_at) VALUES (%(p)s, 'credit', 'bob', 10, 'USD', 'x', 510, now())",
             p=posting_id)
    report = _report(db)
    assert report.postings_checked == 5
    assert len(report.problems) == 1 and posting_id in report.problems[0]
    assert "0 entries, not 2" in report.problems[0]


# Tables the platform keeps in every domain schema (besides the outbox, which tables.py mirrors).
PLATFORM_TABLES = {"alembic_version", "acme_migration_ledger"}


def _billing_only(name, type_, parents):
    if type_ == "schema":
        return name == "billing"
    return not (type_ == "table" and name in PLATFORM_TABLES)


def test_tables_module_matches_the_migrated_schema(database):
    """tables.py mirrors the migrations: autogenerate must find nothing to change."""
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_schemas": True,
            "version_table_schema": "billing",
            "include_name": _billing_only,
            "compare_type": True,
        })
        assert compare_metadata(context, metadata) == []
