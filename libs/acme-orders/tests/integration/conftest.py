"""`database` comes from acme_platform.testing (a freshly migrated database per session)."""
import pytest
from orders_world import World


@pytest.fixture
def world(database) -> World:
    return World(database)
