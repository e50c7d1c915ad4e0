"""The action each skew finding calls for, as the Platform page states it."""
from __future__ import annotations

from backoffice.console.reports import action_for


def test_a_blocked_contract_names_the_blocker_and_both_ways_out():
    text = action_for({"kind": "blocks_contract", "package": "acme-catalog", "revision": "cat0002",
                       "min_compatible_version": "1.1.0", "service": "storefront", "host": "host-b", "pid": 42,
                       "version": "1.0.1"})
    assert text == ("contract revision cat0002 is blocked by storefront@host-b (pid 42) running acme-catalog "
                    "1.0.1: upgrade it to >= 1.1.0 or wait until it is gone")


def test_an_instance_behind_is_told_to_finish_the_rollout():
    text = action_for({"kind": "behind", "package": "acme-skewdemo", "service": "svc", "host": "h", "pid": 7,
                       "version": "1.0.0", "newest_live": "1.1.0"})
    assert "svc@h (pid 7) runs acme-skewdemo 1.0.0, older than the newest live 1.1.0" in text
    assert "finish the rollout" in text


def test_pending_migrations_say_which_command_to_run():
    text = action_for({"kind": "migration_pending", "package": "acme-orders", "domain": "orders",
                       "database": ["ord0001"], "head": ["ord0002"]})
    assert "acme-orders has migrations pending (database ord0001, head ord0002)" in text
    assert "acmectl migrate" in text
