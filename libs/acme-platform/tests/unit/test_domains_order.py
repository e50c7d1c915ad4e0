import pytest

from acme_platform import DomainSpec
from acme_platform.domains import DomainRegistryError, _in_dependency_order


def spec(name, *deps):
    return DomainSpec(name=name, package=f"acme-{name}", schema=name, migrations=f"acme_{name}.m", depends_on=deps)


def test_dependencies_come_first():
    found = {s.name: s for s in [spec("orders", "catalog", "billing"), spec("catalog"), spec("billing"), spec("identity")]}
    order = [s.name for s in _in_dependency_order(found, set(found))]
    assert order.index("catalog") < order.index("orders")
    assert order.index("billing") < order.index("orders")
    assert sorted(order) == sorted(found)


def test_asking_for_one_pulls_its_dependencies():
    found = {s.name: s for s in [spec("orders", "catalog"), spec("catalog"), spec("identity")]}
    assert [s.name for s in _in_dependency_order(found, {"orders"})] == ["catalog", "orders"]


def test_cycle_and_missing_are_errors():
    with pytest.raises(DomainRegistryError, match="cycle"):
        _in_dependency_order({"a": spec("a", "b"), "b": spec("b", "a")}, {"a"})
    with pytest.raises(DomainRegistryError, match="not installed"):
        _in_dependency_order({"a": spec("a", "zzz")}, {"a"})
