"""Random sequences of credits, charges and refunds against a Python model of the ledger."""
import uuid
from collections import defaultdict

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

import acme_billing as billing

CURRENCIES = ("USD", "USD", "EUR")     # two accounts share a currency, one does not
REFERENCES = st.sampled_from(["order-a", "order-b", "order-c"])
ACCOUNT = st.integers(min_value=0, max_value=len(CURRENCIES) - 1)


class LedgerMachine(RuleBasedStateMachine):
    charges = Bundle("charges")    # (account, reference) pairs that were charged: refunds aim at these

    def __init__(self, database):
        super().__init__()
        self.db = database
        prefix = uuid.uuid4().hex[:10]
        self.owners = [f"prop-{prefix}-{i}" for i in range(len(CURRENCIES))]
        self.balances = {o: 0 for o in self.owners}
        self.charged: dict[tuple[str, str], int] = defaultdict(int)
        self.refunded: dict[tuple[str, str], int] = defaultdict(int)
        with self.db.unit_of_work() as uow:
            for owner_id, currency in zip(self.owners, CURRENCIES, strict=True):
                billing.open_account(uow, owner_id, currency)

    # Start most accounts with money, so charges (and then refunds) succeed often enough to matter.
    @initialize(seeds=st.lists(st.integers(min_value=0, max_value=20_000), min_size=len(CURRENCIES),
                               max_size=len(CURRENCIES)))
    def seed(self, seeds):
        for account, amount in enumerate(seeds):
            if amount:
                self._credit(account, amount)

    @rule(account=ACCOUNT, amount=st.integers(min_value=1, max_value=10_000))
    def credit(self, account, amount):
        self._credit(account, amount)

    def _credit(self, account, amount):
        owner_id = self.owners[account]
        with self.db.unit_of_work() as uow:
            posting = billing.credit(uow, owner_id, amount, reference="grant", granted_by="hypothesis")
        self.balances[owner_id] += amount
        assert posting.balance_after_cents == self.balances[owner_id]

    # Mostly the account's own currency: a mismatch is worth trying, not worth most of the steps.
    @rule(target=charges, account=ACCOUNT, amount=st.integers(min_value=1, max_value=2_500), reference=REFERENCES,
          wrong_currency=st.integers(min_value=0, max_value=5).map(lambda n: n == 0))
    def charge(self, account, amount, reference, wrong_currency):
        owner_id = self.owners[account]
        currency = ("EUR" if CURRENCIES[account] == "USD" else "USD") if wrong_currency else CURRENCIES[account]
        try:
            with self.db.unit_of_work() as uow:
                posting = billing.charge(uow, owner_id, amount, currency, reference=reference)
        except billing.CurrencyMismatch:
            event("charge: currency mismatch")
            assert currency != CURRENCIES[account]
        except billing.InsufficientFunds as exc:
            event("charge: insufficient funds")
            assert currency == CURRENCIES[account]
            assert self.balances[owner_id] < amount
            assert exc.extra["balance_cents"] == self.balances[owner_id]
        else:
            event("charge: ok")
            assert currency == CURRENCIES[account]
            self.balances[owner_id] -= amount
            self.charged[owner_id, reference] += amount
            assert posting.balance_after_cents == self.balances[owner_id]
            return (account, reference)
        return multiple()

    @rule(charge=charges, amount=st.integers(min_value=1, max_value=1_000))
    def refund_a_charge(self, charge, amount):
        self._refund(*charge, amount)

    @rule(account=ACCOUNT, amount=st.integers(min_value=1, max_value=1_000), reference=REFERENCES)
    def refund_anything(self, account, amount, reference):
        self._refund(account, reference, amount)

    def _refund(self, account, reference, amount):
        owner_id = self.owners[account]
        refundable = self.charged[owner_id, reference] - self.refunded[owner_id, reference]
        try:
            with self.db.unit_of_work() as uow:
                posting = billing.refund(uow, owner_id, amount, reference=reference)
        except billing.RefundExceedsCharge as exc:
            event("refund: exceeds charge")
            assert amount > refundable
            assert exc.extra["refundable_cents"] == refundable
        else:
            event("refund: ok")
            assert amount <= refundable
            self.balances[owner_id] += amount
            self.refunded[owner_id, reference] += amount
            assert posting.balance_after_cents == self.balances[owner_id]

    @invariant()
    def balances_match_the_model(self):
        with self.db.unit_of_work() as uow:
            for owner_id in self.owners:
                assert billing.get_balance(uow, owner_id).balance_cents == self.balances[owner_id]

    def teardown(self):
        with self.db.unit_of_work() as uow:
            report = billing.check_ledger(uow)
        assert report.problems == []
        assert report.balanced


def test_random_operation_sequences_keep_the_ledger_balanced(database):
    run_state_machine_as_test(
        lambda: LedgerMachine(database),
        settings=settings(max_examples=30, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
