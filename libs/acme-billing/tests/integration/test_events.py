import pytest

import acme_billing as billing


def _events(database, owner_id):
    with database.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT topic, key, payload FROM billing.outbox WHERE key = %(o)s ORDER BY id", {"o": owner_id})]


def test_every_posting_publishes_balance_changed_with_ids_only(database, owner):
    owner_id = owner()
    with database.unit_of_work() as uow:
        billing.open_account(uow, owner_id)
        postings = [
            billing.credit(uow, owner_id, 500, reference="g"),
            billing.charge(uow, owner_id, 200, "USD", reference="o"),
            billing.refund(uow, owner_id, 50, reference="o"),
        ]
    assert _events(database, owner_id) == [
        (billing.BALANCE_CHANGED, owner_id, {"owner_id": owner_id, "posting_id": p.id}) for p in postings
    ]


def test_refused_operations_publish_nothing(database, funded):
    owner_id = funded(100)
    published = len(_events(database, owner_id))
    with database.unit_of_work() as uow:
        with pytest.raises(billing.InsufficientFunds):
            billing.charge(uow, owner_id, 101, "USD", reference="o")
        with pytest.raises(billing.RefundExceedsCharge):
            billing.refund(uow, owner_id, 1, reference="o")
    assert len(_events(database, owner_id)) == published
