from datetime import datetime, timedelta, timezone

import pytest

import acme_billing as billing



def test_credit_adds_to_the_balance_and_describes_the_posting(database, funded, balance_of):
    owner_id = funded(0)
    with database.unit_of_work() as uow:
        first = billing.credit(uow, owner_id, 1_000, reference="welcome", granted_by="staff-7")
        second = billing.credit(uow, owner_id, 250, reference="goodwill")
    assert first.kind == "credit"
    assert (first.owner_id, first.amount_cents, first.currency, first.reference) == (owner_id, 1_000, "USD", "welcome")
    assert first.balance_after_cents == 1_000
    assert second.balance_after_cents == 1_250
    assert first.id != second.id
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - first.created_at) < timedelta(minutes=5)
    assert balance_of(owner_id) == 1_250


def test_credit_records_who_granted_it_and_two_balancing_entries(database, funded):
    owner_id = funded(0)
    with database.unit_of_work() as uow:
        posting = billing.credit(uow, owner_id, 300, reference="r1", granted_by="staff-1")
    with database.engine.connect() as conn:
        granted_by = conn.exec_driver_sql(
            "SELECT granted_by FROM billing.postings WHERE id = %(p)s", {"p": posting.id}).scalar_one()
        entries = conn.exec_driver_sql(
            "SELECT a.kind, a.owner_id, e.amount_cents FROM billing.entries e "
            "JOIN billing.accounts a ON a.id = e.account_id WHERE e.posting_id = %(p)s ORDER BY e.amount_cents",
            {"p": posting.id},
        ).all()
    assert granted_by == "staff-1"
    assert [tuple(e) for e in entries] == [("system", "system:grants:USD", -300), ("customer", owner_id, 300)]


def test_credit_never_opens_an_account(database, owner, row_counts):
    owner_id = owner()
    before = row_counts()
    with database.unit_of_work() as uow, pytest.raises(billing.AccountNotFound):
        billing.credit(uow, owner_id, 100, reference="r")
    assert row_counts() == before
    with database.unit_of_work() as uow, pytest.raises(billing.AccountNotFound):
        billing.get_balance(uow, owner_id)


def test_credit_is_capped_at_a_billion_cents(database, funded, balance_of):
    owner_id = funded(0)
    with database.unit_of_work() as uow:
        assert billing.credit(uow, owner_id, 10**9, reference="max").balance_after_cents == 10**9
    with database.unit_of_work() as uow, pytest.raises(billing.InvalidAmount):
        billing.credit(uow, owner_id, 10**9 + 1, reference="too-much")
    assert balance_of(owner_id) == 10**9


def test_a_rolled_back_credit_leaves_no_trace(database, funded, row_counts, balance_of):
    owner_id = funded(0)
    before = row_counts()
    with pytest.raises(RuntimeError):
        with database.unit_of_work() as uow:
            billing.credit(uow, owner_id, 100, reference="r")
            raise RuntimeError("the caller's request failed later")
    assert row_counts() == before
    assert balance_of(owner_id) == 0
