import threading

import pytest

import acme_billing as billing



def test_open_account_starts_at_zero_in_usd_by_default(database, owner):
    owner_id = owner()
    with database.unit_of_work() as uow:
        assert billing.open_account(uow, owner_id) == billing.Balance(owner_id, 0, "USD")
    with database.unit_of_work() as uow:
        assert billing.get_balance(uow, owner_id) == billing.Balance(owner_id, 0, "USD")


def test_open_account_is_idempotent_and_returns_the_existing_balance(database, funded, row_counts):
    owner_id = funded(700, "EUR")
    before = row_counts()
    with database.unit_of_work() as uow:
        assert billing.open_account(uow, owner_id, "EUR") == billing.Balance(owner_id, 700, "EUR")
    assert row_counts() == before


def test_open_account_in_another_currency_is_a_mismatch(database, funded):
    owner_id = funded(0, "EUR")
    with database.unit_of_work() as uow, pytest.raises(billing.CurrencyMismatch) as exc:
        billing.open_account(uow, owner_id, "USD")
    assert exc.value.extra["field"] == "currency"


def test_one_account_per_customer_even_when_opened_concurrently(database, owner, wait_for_lock_waiter):
    owner_id = owner()
    results: list = []
    with database.unit_of_work() as first:
        billing.open_account(first, owner_id, "GBP")

        def second():
            with database.unit_of_work() as uow:
                results.append(billing.open_account(uow, owner_id, "GBP"))

        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_waiter()   # the second insert queues behind the first's unique key
    thread.join(10)
    assert results == [billing.Balance(owner_id, 0, "GBP")]
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM billing.accounts WHERE kind = 'customer' AND owner_id = %(o)s", {"o": owner_id}
        ).scalar_one() == 1


def test_opening_an_account_creates_the_currency_system_accounts(database, owner):
    with database.unit_of_work() as uow:
        billing.open_account(uow, owner(), "CHF")
    with database.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT owner_id, balance_cents FROM billing.accounts WHERE kind = 'system' AND currency = 'CHF' "
            "ORDER BY owner_id"
        ).all()
    assert [tuple(r) for r in rows] == [("system:grants:CHF", None), ("system:revenue:CHF", None)]


def test_get_balance_of_unknown_owner(database, owner):
    owner_id = owner()
    with database.unit_of_work() as uow, pytest.raises(billing.AccountNotFound) as exc:
        billing.get_balance(uow, owner_id)
    assert exc.value.extra["owner_id"] == owner_id
    assert exc.value.code == "billing.account_not_found"


def test_the_database_refuses_a_negative_customer_balance(database, funded):
    import sqlalchemy.exc

    owner_id = funded(10)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        with database.unit_of_work() as uow:
            uow.connection.exec_driver_sql(
                "UPDATE billing.accounts SET balance_cents = -1 WHERE kind = 'customer' AND owner_id = %(o)s",
                {"o": owner_id},
            )
