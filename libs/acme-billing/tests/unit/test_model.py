from decimal import Decimal

import pytest

import acme_billing as billing
from acme_billing import model


@pytest.mark.parametrize("amount", [1, 250, 10**9])
def test_valid_amounts_pass(amount):
    assert model.validate_amount(amount) == amount


@pytest.mark.parametrize("amount", [0, -1, -(10**9)])
def test_non_positive_amounts_are_rejected(amount):
    with pytest.raises(billing.InvalidAmount) as exc:
        model.validate_amount(amount)
    assert exc.value.extra["field"] == "amount_cents"
    assert exc.value.code == "billing.invalid_amount"


@pytest.mark.parametrize("amount", [True, False, 1.0, 100.5, "100", None, Decimal("1")])
def test_amounts_that_are_not_plain_ints_are_rejected(amount):
    with pytest.raises(billing.InvalidAmount):
        model.validate_amount(amount)


def test_amount_ceiling_is_enforced():
    assert model.validate_amount(10**9, maximum=model.MAX_CREDIT_CENTS) == 10**9
    with pytest.raises(billing.InvalidAmount):
        model.validate_amount(10**9 + 1, maximum=model.MAX_CREDIT_CENTS)
    with pytest.raises(billing.InvalidAmount):
        model.validate_amount(2**63)   # would not fit a bigint balance


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY"])
def test_iso_currency_codes_pass(currency):
    assert model.validate_currency(currency) == currency


@pytest.mark.parametrize("currency", ["usd", "US", "USDD", " USD", "U$D", "", None, 840])
def test_malformed_currency_codes_are_rejected(currency):
    with pytest.raises(billing.InvalidField) as exc:
        model.validate_currency(currency)
    assert exc.value.extra["field"] == "currency"


@pytest.mark.parametrize("value", ["", " ", " order-1", "order-1 ", "x" * 201, None, 42])
def test_bad_references_are_rejected_naming_the_field(value):
    with pytest.raises(billing.InvalidField) as exc:
        model.validate_text(value, "reference")
    assert exc.value.extra["field"] == "reference"
    assert exc.value.code == "billing.invalid_field"


def test_text_up_to_the_limit_passes():
    assert model.validate_text("x" * 200, "reference") == "x" * 200


def test_customer_side_of_each_posting_kind():
    assert model.customer_delta("credit", 5) == 5
    assert model.customer_delta("charge", 5) == -5
    assert model.customer_delta("refund", 5) == 5
    with pytest.raises(ValueError):
        model.customer_delta("gift", 5)


def test_refundable_never_negative():
    assert model.refundable(100, 30) == 70
    assert model.refundable(100, 100) == 0
    assert model.refundable(0, 0) == 0
    assert model.refundable(10, 30) == 0


def test_system_accounts_are_per_currency():
    assert model.grants_account("EUR") == "system:grants:EUR"
    assert model.revenue_account("EUR") == "system:revenue:EUR"
    assert model.grants_account("EUR") != model.grants_account("USD")


def test_value_types_are_frozen():
    balance = billing.Balance(owner_id="a", balance_cents=1, currency="USD")
    with pytest.raises(AttributeError):
        balance.balance_cents = 2  # type: ignore[misc]
