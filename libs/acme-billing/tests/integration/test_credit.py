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


def test_a_retried_credit_with_the_same_key_posts_once(database, funded, balance_of, row_counts):
    owner_id = funded(0)
    with database.unit_of_work() as uow:
        first = billing.credit(uow, owner_id, 500, reference="grant-1", granted_by="staff-1", idempotency_key="k-1")
    after_first = row_counts()
    # The retry mints a fresh reference (as the backoffice does per attempt): still the same grant.
    with database.unit_of_work() as uow:
        again = billing.credit(uow, owner_id, 500, reference="grant-2", granted_by="staff-1", idempotency_key="k-1")
    assert again == first
    assert row_counts() == after_first
    assert balance_of(owner_id) == 500


def test_the_same_key_with_another_grant_is_refused_naming_the_header(database, funded, balance_of, row_counts):
    owner_id = funded(0)
    with database.unit_of_work() as uow:
        billing.credit(uow, owner_id, 500, reference="g", granted_by="staff-1", idempotency_key="k-2")
    before = row_counts()
    for amount, granter in ((501, "staff-1"), (500, "staff-2")):
        with database.unit_of_work() as uow, pytest.raises(billing.IdempotencyKeyReused) as refused:
            billing.credit(uow, owner_id, amount, reference="g2", granted_by=granter, idempotency_key="k-2")
        assert refused.value.extra["field"] == "Idempotency-Key"
    assert row_counts() == before
    assert balance_of(owner_id) == 500


def test_keys_are_per_wallet_and_a_bad_key_names_the_header(database, funded, balance_of):
    a, b = funded(0), funded(0)
    with database.unit_of_work() as uow:
        billing.credit(uow, a, 100, reference="g", idempotency_key="same")
        billing.credit(uow, b, 100, reference="g", idempotency_key="same")
    assert (balance_of(a), balance_of(b)) == (100, 100)
    for bad in ("", "x" * 201, "tab\there"):
        with database.unit_of_work() as uow, pytest.raises(billing.InvalidField) as refused:
            billing.credit(uow, a, 100, reference="g", idempotency_key=bad)
        assert refused.value.extra["field"] == "Idempotency-Key"


def test_a_credit_rolled_back_after_claiming_its_key_frees_the_key(database, funded, balance_of):
    owner_id = funded(0)
    with pytest.raises(RuntimeError):
        with database.unit_of_work() as uow:
            billing.credit(uow, owner_id, 100, reference="g", idempotency_key="k-3")
            raise RuntimeError("the caller's request failed later")
    with database.unit_of_work() as uow:
        posting = billing.credit(uow, owner_id, 100, reference="g", idempotency_key="k-3")
    assert posting.balance_after_cents == 100 == balance_of(owner_id)


def test_two_concurrent_credits_with_one_key_post_once(database, funded, balance_of, wait_for_lock_waiter):
    import threading

    owner_id = funded(0)
    outcome: list = []
    with database.unit_of_work() as first:
        posted = billing.credit(first, owner_id, 700, reference="a", granted_by="s", idempotency_key="race")

        def second():
            with database.unit_of_work() as uow:
                outcome.append(billing.credit(uow, owner_id, 700, reference="b", granted_by="s",
                                              idempotency_key="race"))

        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_waiter()   # the retry queues on the key's primary key until the first commits
    thread.join(10)
    assert outcome == [posted]
    assert balance_of(owner_id) == 700
