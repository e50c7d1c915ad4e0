import pytest

from acme_orders import TRANSITIONS, InvalidTransition, OrderStatus
from acme_orders.model import can_transition, check_transition, sources_of

ALL = [s.value for s in OrderStatus]


def test_the_lifecycle_is_exactly_placed_to_fulfilled_or_cancelled():
    allowed = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {("placed", "fulfilled"), ("placed", "cancelled")}
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("target", ALL)
def test_every_pair_is_allowed_or_a_typed_error(current, target):
    if (current, target) in {("placed", "fulfilled"), ("placed", "cancelled")}:
        assert can_transition(current, target)
        check_transition(current, target)
    else:
        assert not can_transition(current, target)
        with pytest.raises(InvalidTransition) as exc:
            check_transition(current, target)
        assert exc.value.extra == {"status": current, "target": target}
        assert exc.value.code == "orders.invalid_transition"


def test_update_guards_come_from_the_table():
    assert sources_of("cancelled") == ("placed",)
    assert sources_of("fulfilled") == ("placed",)
    assert sources_of("placed") == ()


def test_status_values_are_plain_strings():
    assert OrderStatus.PLACED == "placed" and str(OrderStatus.CANCELLED) == "cancelled"
