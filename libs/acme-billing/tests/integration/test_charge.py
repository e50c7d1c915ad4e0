import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event

import acme_billing as billing



def test_charge_moves_money_to_revenue(database, funded, balance_of):
    owner_id = funded(1_000)
    with database.unit_of_work() as uow:
        posting = billing.charge(uow, owner_id, 400, "USD", reference="order-1")
    assert (posting.kind, posting.amount_cents, posting.currency, posting.reference) == ("charge", 400, "USD", "order-1")
    assert posting.balance_after_cents == 600
    assert balance_of(owner_id) == 600
    with database.engine.connect() as conn:
        entries = conn.exec_driver_sql(
            "SELECT a.owner_id, e.amount_cents FROM billing.entries e JOIN billing.accounts a ON a.id = e.account_id "
            "WHERE e.posting_id = %(p)s ORDER BY e.amount_cents", {"p": posting.id}).all()
    assert [tuple(e) for e in entries] == [(owner_id, -400), ("system:revenue:USD", 400)]


def test_charge_may_use_the_whole_balance(database, funded):
    owner_id = funded(500)
    with database.unit_of_work() as uow:
        assert billing.charge(uow, owner_id, 500, "USD", reference="all-of-it").balance_after_cents == 0


def test_insufficient_funds_writes_nothing(database, funded, row_counts, balance_of):
    owner_id = funded(300)
    before = row_counts()
    with database.unit_of_work() as uow, pytest.raises(billing.InsufficientFunds) as exc:
        billing.charge(uow, owner_id, 301, "USD", reference="order-2")
    assert exc.value.extra["balance_cents"] == 300
    assert exc.value.extra["required_cents"] == 301
    assert exc.value.code == "billing.insufficient_funds"
    assert row_counts() == before
    assert balance_of(owner_id) == 300


def test_a_refused_charge_does_not_abort_the_callers_transaction(database, funded, balance_of):
    # Nothing failed at the SQL level, so a caller that catches the error can go on (e.g. try a smaller amount).
    owner_id = funded(300)
    with database.unit_of_work() as uow:
        with pytest.raises(billing.InsufficientFunds):
            billing.charge(uow, owner_id, 1_000, "USD", reference="big")
        billing.charge(uow, owner_id, 100, "USD", reference="small")
    assert balance_of(owner_id) == 200


def test_charge_in_another_currency_is_refused(database, funded, row_counts):
    owner_id = funded(1_000, "EUR")
    before = row_counts()
    with database.unit_of_work() as uow, pytest.raises(billing.CurrencyMismatch) as exc:
        billing.charge(uow, owner_id, 100, "USD", reference="order-3")
    assert exc.value.extra == {"field": "currency", "expected": "EUR", "got": "USD"}
    assert row_counts() == before


def test_charge_of_unknown_owner(database, owner):
    with database.unit_of_work() as uow, pytest.raises(billing.AccountNotFound):
        billing.charge(uow, owner(), 100, "USD", reference="order-4")


def test_charge_is_one_statement_plus_the_event(database, funded):
    """The hot path of place_order: guarded UPDATE + posting INSERT + entries INSERT in one round trip; its
    event is written at COMMIT with every other event of the transaction, in one more."""
    owner_id = funded(1_000)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
    event.listen(database.engine, "before_cursor_execute", listener)
    try:
        with database.unit_of_work() as uow:
            billing.charge(uow, owner_id, 10, "USD", reference="order-5")
            charged = len(statements)
    finally:
        event.remove(database.engine, "before_cursor_execute", listener)
    assert charged == 1, statements
    assert "UPDATE billing.accounts" in statements[0] and "INSERT INTO billing.entries" in statements[0]
    assert len(statements) == 2 and "\"billing\".outbox" in statements[1], statements


def test_two_racing_charges_on_a_balance_for_one(database, funded, balance_of, wait_for_lock_waiter):
    owner_id = funded(1_000)
    outcome: list = []
    with database.unit_of_work() as first:
        billing.charge(first, owner_id, 700, "USD", reference="race-a")

        def second():
            try:
                with database.unit_of_work() as uow:
                    outcome.append(billing.charge(uow, owner_id, 700, "USD", reference="race-b"))
            except billing.InsufficientFunds as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_waiter()   # the second charge is queued on the account row...
    thread.join(10)                      # ...and re-checks its guard once the first commits
    assert len(outcome) == 1 and isinstance(outcome[0], billing.InsufficientFunds)
    assert outcome[0].extra["balance_cents"] == 300
    assert balance_of(owner_id) == 300


def test_many_concurrent_charges_never_overdraw(database, funded, balance_of):
    owner_id = funded(1_000)
    start = threading.Barrier(8)

    def attempt(i: int) -> bool:
        start.wait()
        try:
            with database.unit_of_work() as uow:
                billing.charge(uow, owner_id, 300, "USD", reference=f"burst-{i}")
            return True
        except billing.InsufficientFunds:
            return False

    with ThreadPoolExecutor(8) as pool:
        succeeded = sum(pool.map(attempt, range(8)))
    assert succeeded == 3
    assert balance_of(owner_id) == 100
    with database.unit_of_work() as uow:
        assert billing.check_ledger(uow).balanced
