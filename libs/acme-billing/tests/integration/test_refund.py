import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import acme_billing as billing



@pytest.fixture
def charged(database, funded):
    """An owner with 1000 granted and 600 charged for reference 'order-1'."""
    owner_id = funded(1_000)
    with database.unit_of_work() as uow:
        billing.charge(uow, owner_id, 600, "USD", reference="order-1")
    return owner_id


def test_refund_gives_money_back_from_revenue(database, charged):
    with database.unit_of_work() as uow:
        posting = billing.refund(uow, charged, 250, reference="order-1")
    assert (posting.kind, posting.amount_cents, posting.currency, posting.reference) == ("refund", 250, "USD", "order-1")
    assert posting.balance_after_cents == 650
    with database.engine.connect() as conn:
        entries = conn.exec_driver_sql(
            "SELECT a.owner_id, e.amount_cents FROM billing.entries e JOIN billing.accounts a ON a.id = e.account_id "
            "WHERE e.posting_id = %(p)s ORDER BY e.amount_cents", {"p": posting.id}).all()
    assert [tuple(e) for e in entries] == [("system:revenue:USD", -250), (charged, 250)]


def test_partial_refunds_add_up_to_the_charge_and_no_more(database, charged, row_counts):
    with database.unit_of_work() as uow:
        billing.refund(uow, charged, 200, reference="order-1")
        billing.refund(uow, charged, 300, reference="order-1")
    before = row_counts()
    with database.unit_of_work() as uow, pytest.raises(billing.RefundExceedsCharge) as exc:
        billing.refund(uow, charged, 101, reference="order-1")
    assert exc.value.extra["refundable_cents"] == 100
    assert exc.value.extra["reference"] == "order-1"
    assert exc.value.code == "billing.refund_exceeds_charge"
    assert row_counts() == before
    with database.unit_of_work() as uow:
        assert billing.refund(uow, charged, 100, reference="order-1").balance_after_cents == 1_000


def test_refund_without_a_charge_is_refused(database, charged):
    with database.unit_of_work() as uow, pytest.raises(billing.RefundExceedsCharge) as exc:
        billing.refund(uow, charged, 1, reference="never-charged")
    assert exc.value.extra["refundable_cents"] == 0


def test_a_credit_reference_is_not_refundable(database, charged):
    # The seed grant used reference "seed": grants are not charges.
    with database.unit_of_work() as uow, pytest.raises(billing.RefundExceedsCharge):
        billing.refund(uow, charged, 1, reference="seed")


def test_references_belong_to_their_owner(database, charged, funded):
    other = funded(0)
    with database.unit_of_work() as uow, pytest.raises(billing.RefundExceedsCharge):
        billing.refund(uow, other, 100, reference="order-1")


def test_several_charges_under_one_reference_are_refundable_together(database, charged):
    with database.unit_of_work() as uow:
        billing.charge(uow, charged, 300, "USD", reference="order-1")
        assert billing.refund(uow, charged, 900, reference="order-1").balance_after_cents == 1_000


def test_refund_to_unknown_owner(database, owner):
    with database.unit_of_work() as uow, pytest.raises(billing.AccountNotFound):
        billing.refund(uow, owner(), 1, reference="order-1")


def test_a_refund_waiting_on_another_sees_what_it_refunded(database, charged, balance_of, wait_for_lock_waiter):
    outcome: list = []
    with database.unit_of_work() as first:
        billing.refund(first, charged, 400, reference="order-1")

        def second():
            try:
                with database.unit_of_work() as uow:
                    outcome.append(billing.refund(uow, charged, 400, reference="order-1"))
            except billing.RefundExceedsCharge as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_waiter()   # queued on the charge posting's row lock
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], billing.RefundExceedsCharge)
    assert outcome[0].extra["refundable_cents"] == 200
    assert balance_of(charged) == 800


def test_concurrent_refunds_never_exceed_the_charge(database, charged, balance_of):
    start = threading.Barrier(6)

    def attempt(i: int) -> bool:
        start.wait()
        try:
            with database.unit_of_work() as uow:
                billing.refund(uow, charged, 250, reference="order-1")
            return True
        except billing.RefundExceedsCharge:
            return False

    with ThreadPoolExecutor(6) as pool:
        succeeded = sum(pool.map(attempt, range(6)))
    assert succeeded == 2
    assert balance_of(charged) == 900
    with database.engine.connect() as conn:
        refunded = conn.exec_driver_sql(
            "SELECT sum(amount_cents) FROM billing.postings WHERE owner_id = %(o)s AND kind = 'refund'",
            {"o": charged}).scalar_one()
    assert refunded == 500
