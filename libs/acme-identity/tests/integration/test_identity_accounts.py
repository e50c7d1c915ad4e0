"""Registration and accounts against a real Postgres."""
import contextlib
import threading
import time
import uuid
from datetime import timezone

import pytest

from acme_identity import (
    issue_token,
    ACCOUNT_REGISTERED,
    AccountNotFound,
    EmailTaken,
    InvalidEmail,
    InvalidName,
    WeakPassword,
    get_account,
    register_customer,
    register_staff,
)

PASSWORD = "correct horse battery"


def _account_row(admin_database, account_id):
    # The stored hash is read as the administrator: no service role may read it (test below).
    with admin_database.unit_of_work() as uow:
        return uow.connection.exec_driver_sql(
            "SELECT email, name, kind, password_hash FROM identity.accounts WHERE id = %(id)s", {"id": account_id}
        ).first()


def _count_accounts(database, email):
    with database.unit_of_work() as uow:
        return uow.connection.exec_driver_sql(
            "SELECT count(*) FROM identity.accounts WHERE lower(email) = lower(%(e)s)", {"e": email}
        ).scalar()


def test_register_customer_stores_an_argon2_hash_and_returns_no_secret(database, admin_database, new_email):
    email = new_email("Ann").replace("ann", "Ann")
    with database.unit_of_work() as uow:
        account = register_customer(uow, email=f"  {email} ", password=PASSWORD, name="  Ann Lee ")
    assert account.email == email and account.name == "Ann Lee" and account.kind == "customer"
    assert account.created_at.tzinfo is not None and account.created_at.utcoffset().total_seconds() == 0
    assert uuid.UUID(account.id)
    row = _account_row(admin_database, account.id)
    assert (row.email, row.name, row.kind) == (email, "Ann Lee", "customer")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert PASSWORD not in repr(account)


def test_get_account_reads_back_what_was_registered(database, new_email):
    with database.unit_of_work() as uow:
        account = register_staff(uow, email=new_email(), password=PASSWORD, name="Sam")
    with database.unit_of_work() as uow:
        assert get_account(uow, account.id) == account


def test_get_account_unknown_or_malformed_id(database):
    with database.unit_of_work() as uow:
        with pytest.raises(AccountNotFound) as info:
            get_account(uow, str(uuid.uuid4()))
        assert info.value.code == "identity.account_not_found"
        with pytest.raises(AccountNotFound):
            get_account(uow, "not-a-uuid")
        # Neither lookup broke the transaction.
        assert uow.connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_registration_publishes_account_registered(database, new_email):
    with database.unit_of_work() as uow:
        account = register_customer(uow, email=new_email(), password=PASSWORD, name="Evie")
    with database.unit_of_work() as uow:
        rows = uow.connection.exec_driver_sql(
            "SELECT topic, payload FROM identity.outbox WHERE key = %(k)s", {"k": account.id}
        ).all()
    assert [(r.topic, r.payload) for r in rows] == [
        (ACCOUNT_REGISTERED, {"account_id": account.id, "kind": "customer"})
    ]


def test_duplicate_email_in_any_case_is_taken_and_leaves_the_transaction_usable(database, new_email):
    email = new_email("dup")
    with database.unit_of_work() as uow:
        register_customer(uow, email=email, password=PASSWORD, name="First")
    with database.unit_of_work() as uow:
        with pytest.raises(EmailTaken) as info:
            register_customer(uow, email=email.upper(), password=PASSWORD, name="Second")
        assert info.value.extra == {"field": "email"}
        assert info.value.code == "identity.email_taken"
        # Staff and customers share one email namespace.
        with pytest.raises(EmailTaken):
            register_staff(uow, email=f" {email.title()} ", password=PASSWORD, name="Third")
        # No error reached Postgres: the caller's other work in this transaction can go on.
        assert uow.connection.exec_driver_sql("SELECT 1").scalar() == 1
    assert _count_accounts(database, email) == 1


@pytest.mark.parametrize("fields, error", [
    ({"email": "nope"}, InvalidEmail),
    ({"password": "short"}, WeakPassword),
    ({"password": "p" * 257}, WeakPassword),
    ({"name": " "}, InvalidName),
    ({"name": "n" * 201}, InvalidName),
])
def test_invalid_input_writes_nothing(database, new_email, fields, error):
    email = new_email("invalid")
    args = {"email": email, "password": PASSWORD, "name": "Val Id", **fields}
    with pytest.raises(error):
        with database.unit_of_work() as uow:
            register_customer(uow, **args)
    assert _count_accounts(database, args["email"]) == 0


def _backend_pid(uow) -> int:
    return uow.connection.connection.driver_connection.info.backend_pid


def _waiting_on_lock(database, pid) -> bool:
    with database.unit_of_work() as uow:
        return uow.connection.exec_driver_sql(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %(p)s", {"p": pid}
        ).scalar() is True


def _register_in_thread(database, email, started, outcome):
    def run():
        try:
            with database.unit_of_work() as uow:
                started.append(_backend_pid(uow))
                outcome.append(register_customer(uow, email=email, password=PASSWORD, name="Racer B"))
        except Exception as exc:
            outcome.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


class _Abort(Exception):
    pass


@pytest.mark.parametrize("first_commits", [True, False])
def test_racing_registration_waits_for_the_first_and_then_loses_or_wins(database, new_email, first_commits):
    email = new_email("race")
    started, outcome = [], []
    with contextlib.suppress(_Abort):
        with database.unit_of_work() as uow_a:
            register_customer(uow_a, email=email, password=PASSWORD, name="Racer A")
            thread = _register_in_thread(database, email.upper(), started, outcome)
            # B must really be blocked on A's uncommitted row before A commits or rolls back.
            deadline = time.monotonic() + 5
            while not (started and _waiting_on_lock(database, started[0])):
                assert time.monotonic() < deadline, "the second registration never waited on the first"
                time.sleep(0.01)
            if not first_commits:
                raise _Abort()
    thread.join(10)
    assert len(outcome) == 1
    if first_commits:
        assert isinstance(outcome[0], EmailTaken)
    else:
        assert outcome[0].name == "Racer B"
    assert _count_accounts(database, email) == 1


def test_two_simultaneous_registrations_exactly_one_succeeds(database, new_email):
    email = new_email("simul")
    barrier = threading.Barrier(2)
    results = []

    def run(spelling):
        try:
            with database.unit_of_work() as uow:
                barrier.wait(5)
                results.append(register_customer(uow, email=spelling, password=PASSWORD, name="Twin"))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in (email, email.upper())]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert sorted(type(r).__name__ for r in results) == ["Account", "EmailTaken"]
    assert _count_accounts(database, email) == 1


def test_created_at_is_utc(database, new_email):
    with database.unit_of_work() as uow:
        account = register_customer(uow, email=new_email(), password=PASSWORD, name="Tz")
    assert account.created_at.tzinfo == timezone.utc


def test_no_service_role_can_read_password_hashes_but_log_in_works(database, customer):
    """The runtime role gets every column of accounts but password_hash; log-in goes through the
    SECURITY DEFINER functions of id0002, so it still works without ever reading the digest."""
    import psycopg
    import sqlalchemy.exc

    with pytest.raises(sqlalchemy.exc.ProgrammingError) as refused:
        with database.unit_of_work() as uow:
            uow.connection.exec_driver_sql("SELECT password_hash FROM identity.accounts LIMIT 1").all()
    assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
    with database.unit_of_work() as uow:
        params = uow.connection.exec_driver_sql(
            "SELECT params, digest_chars FROM identity.password_challenge(%(e)s)", {"e": customer.email}).one()
    assert params.params.startswith("$argon2id$") and params.params.count("$") == 4   # salt, never the digest
    with database.unit_of_work() as uow:
        assert issue_token(uow, email=customer.email, password=PASSWORD).token
