"""Random sequences of credit / place / cancel / fulfil, checked step by step against a tiny model of
what each should do, and at the end against billing's ledger check and the catalog's stock."""
from __future__ import annotations

from dataclasses import dataclass, field

import acme_billing
import acme_catalog
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import acme_orders
from acme_orders.model import request_hash

from orders_world import World, staff

N_PRODUCTS, N_CUSTOMERS = 3, 2

lines_st = st.lists(st.tuples(st.integers(0, N_PRODUCTS - 1), st.integers(1, 4)),
                    min_size=1, max_size=N_PRODUCTS, unique_by=lambda line: line[0])
place_st = st.tuples(st.just("place"), st.integers(0, N_CUSTOMERS - 1), lines_st, st.sampled_from([None, "a", "b"]))
retry_st = st.tuples(st.just("retry"), st.integers(0, 50))  # a client re-sending an earlier keyed request
ops_st = st.lists(
    # place and retry listed more than once: weights, so sequences reach replays, cancels and fulfils.
    st.one_of(
        place_st, place_st, place_st, retry_st, retry_st,
        st.tuples(st.just("credit"), st.integers(0, N_CUSTOMERS - 1), st.integers(1, 3000)),
        st.tuples(st.just("cancel"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("fulfil"), st.integers(0, 50)),
    ),
    min_size=3, max_size=16,
)
world_st = st.tuples(
    st.lists(st.integers(0, 15), min_size=N_PRODUCTS, max_size=N_PRODUCTS),      # initial stock
    st.lists(st.integers(1, 500), min_size=N_PRODUCTS, max_size=N_PRODUCTS),    # prices
    st.lists(st.integers(0, 8000), min_size=N_CUSTOMERS, max_size=N_CUSTOMERS),  # opening funds
)


@dataclass
class ModelOrder:
    id: str
    customer: int
    lines: list[tuple[int, int]]
    total: int
    status: str = "placed"


@dataclass
class Model:
    on_hand: list[int]
    prices: list[int]
    reserved: list[int] = field(default_factory=lambda: [0] * N_PRODUCTS)
    balance: list[int] = field(default_factory=lambda: [0] * N_CUSTOMERS)
    orders: list[ModelOrder] = field(default_factory=list)
    keys: dict = field(default_factory=dict)
    sent: list = field(default_factory=list)   # keyed place requests, for "retry"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setup=world_st, ops=ops_st)
def test_random_sequences_keep_money_and_stock_consistent(database, setup, ops):
    world = World(database)
    stock, prices, funds = setup
    skus = [world.product(stock=s, price=p) for s, p in zip(stock, prices, strict=True)]
    people = [world.customer(funds=f) for f in funds]
    m = Model(on_hand=list(stock), prices=list(prices), balance=list(funds))

    for op in ops:
        kind = op[0]
        if kind == "credit":
            _, c, amount = op
            world.credit(people[c], amount)
            m.balance[c] += amount
        elif kind == "place":
            _place(database, m, skus, people, *op[1:])
        elif kind == "retry" and m.sent:
            _place(database, m, skus, people, *m.sent[op[1] % len(m.sent)])
        elif kind == "cancel" and m.orders:
            _, i, by_staff = op
            order = m.orders[i % len(m.orders)]
            actor = staff() if by_staff else people[order.customer]
            _transition(database, m, order, "cancelled",
                        lambda uow, a=actor, o=order.id: acme_orders.cancel_order(uow, a, o))
        elif kind == "fulfil" and m.orders:
            order = m.orders[op[1] % len(m.orders)]
            _transition(database, m, order, "fulfilled",
                        lambda uow, o=order.id: acme_orders.mark_fulfilled(uow, o))

    for i, sku in enumerate(skus):
        assert world.stock(sku) == (m.on_hand[i], m.reserved[i]), sku
    for c, who in enumerate(people):
        assert world.balance(who) == m.balance[c]
    with database.unit_of_work() as uow:
        report = acme_billing.check_ledger(uow)
        assert report.balanced, report.problems
        for c, who in enumerate(people):
            listed = acme_orders.list_orders(uow, who, limit=100).items
            expected = [o for o in m.orders if o.customer == c]
            assert {(o.id, o.status) for o in listed} == {(o.id, o.status) for o in expected}


def _place(database, m: Model, skus, people, c, lines, key):
    items = [(skus[p], q) for p, q in lines]
    if key:
        m.sent.append((c, lines, key))
    fingerprint = request_hash(sorted(items))
    stored = m.keys.get((c, key)) if key else None
    try:
        with database.unit_of_work() as uow:
            placed = acme_orders.place_order(uow, people[c], items, idempotency_key=key)
    except acme_orders.IdempotencyKeyReused:
        event("place: key reused")
        assert stored is not None and stored[0] != fingerprint
        return
    except acme_catalog.InsufficientStock as exc:
        event("place: insufficient stock")
        short = {skus[p] for p, q in lines if m.on_hand[p] - m.reserved[p] < q}
        assert stored is None and exc.extra["sku"] in short
        return
    except acme_billing.InsufficientFunds:
        event("place: insufficient funds")
        assert stored is None
        assert all(m.on_hand[p] - m.reserved[p] >= q for p, q in lines)
        assert sum(q * m.prices[p] for p, q in lines) > m.balance[c]
        return

    event("place: replayed" if stored is not None else "place: placed")
    if stored is not None:
        assert stored[0] == fingerprint and placed.replayed and placed.order.id == stored[1]
        return
    total = sum(q * m.prices[p] for p, q in lines)
    assert not placed.replayed and placed.order.total_cents == total
    assert all(m.on_hand[p] - m.reserved[p] >= q for p, q in lines) and total <= m.balance[c]
    for p, q in lines:
        m.reserved[p] += q
    m.balance[c] -= total
    m.orders.append(ModelOrder(placed.order.id, c, lines, total))
    if key:
        m.keys[(c, key)] = (fingerprint, placed.order.id)


def _transition(database, m: Model, order: ModelOrder, target: str, action):
    try:
        with database.unit_of_work() as uow:
            result = action(uow)
    except acme_orders.InvalidTransition as exc:
        event(f"{target}: refused")
        assert order.status != "placed" and exc.extra["status"] == order.status
        return
    event(f"{target}: done")
    assert order.status == "placed" and result.status == target
    order.status = target
    for p, q in order.lines:
        m.reserved[p] -= q
        if target == "fulfilled":
            m.on_hand[p] -= q
    if target == "cancelled":
        m.balance[order.customer] += order.total
