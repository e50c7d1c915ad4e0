import pytest

import acme_billing as billing
from acme_platform import Conflict, DomainError, InvalidInput, NotFound, PaymentRequired
from acme_platform.events.outbox import validate_topic


def test_public_api_is_exactly_the_contract():
    assert set(billing.__all__) == {
        "Balance", "Posting", "LedgerReport", "open_account", "get_balance", "credit", "charge", "refund",
        "check_ledger", "BillingError", "AccountNotFound", "InsufficientFunds", "CurrencyMismatch",
        "InvalidAmount", "InvalidField", "RefundExceedsCharge", "BALANCE_CHANGED", "DOMAIN",
        "IdempotencyKeyReused", "WALLET_CURRENCY",
    }
    for name in billing.__all__:
        assert hasattr(billing, name)


@pytest.mark.parametrize("error, category, code, fields", [
    (billing.AccountNotFound("o1"), NotFound, "billing.account_not_found", {"owner_id": "o1"}),
    (billing.InsufficientFunds("o1", balance_cents=5, required_cents=9), PaymentRequired,
     "billing.insufficient_funds", {"balance_cents": 5, "required_cents": 9}),
    (billing.CurrencyMismatch("x", expected="USD", got="EUR"), InvalidInput, "billing.currency_mismatch",
     {"field": "currency"}),
    (billing.InvalidAmount("x"), InvalidInput, "billing.invalid_amount", {"field": "amount_cents"}),
    (billing.InvalidField("x", field="reference"), InvalidInput, "billing.invalid_field", {"field": "reference"}),
    (billing.RefundExceedsCharge("o1", "r1", requested_cents=5, refundable_cents=3), Conflict,
     "billing.refund_exceeds_charge", {"reference": "r1", "refundable_cents": 3}),
    (billing.IdempotencyKeyReused("x", field="Idempotency-Key"), Conflict, "billing.idempotency_key_reused",
     {"field": "Idempotency-Key"}),
])
def test_errors_have_category_stable_code_and_context(error, category, code, fields):
    assert isinstance(error, billing.BillingError)
    assert isinstance(error, category)
    assert isinstance(error, DomainError)
    body = error.to_dict()
    assert body["code"] == code
    for key, value in fields.items():
        assert body[key] == value


def test_topic_follows_the_platform_convention():
    assert billing.BALANCE_CHANGED == "billing.balance_changed"
    assert validate_topic(billing.BALANCE_CHANGED)


def test_domain_spec():
    assert billing.DOMAIN.name == "billing"
    assert billing.DOMAIN.schema == "billing"
    assert billing.DOMAIN.package == "acme-billing"
    assert billing.DOMAIN.migrations == "acme_billing.migrations"
    assert billing.DOMAIN.depends_on == ()


def test_domain_is_registered_through_the_entry_point():
    from acme_platform import installed_domains

    assert "billing" in [spec.name for spec in installed_domains()]


def test_every_revision_declares_its_phase_and_a_prefixed_id():
    import importlib
    import pkgutil

    import acme_billing.migrations.versions as versions

    modules = [importlib.import_module(f"{versions.__name__}.{m.name}") for m in pkgutil.iter_modules(versions.__path__)]
    assert modules
    for module in modules:
        assert module.phase in ("expand", "contract")
        assert module.revision.startswith("bil")


class _NoDatabase:
    """A unit of work whose connection must not be touched: validation happens before any I/O."""

    @property
    def connection(self):
        pytest.fail("the database was used before the input was validated")


@pytest.mark.parametrize("call", [
    lambda uow: billing.credit(uow, "o1", 0, reference="r"),
    lambda uow: billing.credit(uow, "o1", 10**9 + 1, reference="r"),
    lambda uow: billing.credit(uow, "o1", True, reference="r"),
    lambda uow: billing.charge(uow, "o1", 1.5, "USD", reference="r"),
    lambda uow: billing.charge(uow, "o1", -3, "USD", reference="r"),
    lambda uow: billing.refund(uow, "o1", 0, reference="r"),
])
def test_bad_amounts_fail_before_any_io(call):
    with pytest.raises(billing.InvalidAmount):
        call(_NoDatabase())


@pytest.mark.parametrize("call, field", [
    (lambda uow: billing.open_account(uow, "o1", "usd"), "currency"),
    (lambda uow: billing.open_account(uow, "", "USD"), "owner_id"),
    (lambda uow: billing.charge(uow, "o1", 5, "dollars", reference="r"), "currency"),
    (lambda uow: billing.charge(uow, "o1", 5, "USD", reference=""), "reference"),
    (lambda uow: billing.credit(uow, "o1", 5, reference="r", granted_by=""), "granted_by"),
    (lambda uow: billing.refund(uow, "o1", 5, reference=" r"), "reference"),
    (lambda uow: billing.get_balance(uow, None), "owner_id"),
])
def test_bad_fields_fail_before_any_io(call, field):
    with pytest.raises(billing.InvalidField) as exc:
        call(_NoDatabase())
    assert exc.value.extra["field"] == field
