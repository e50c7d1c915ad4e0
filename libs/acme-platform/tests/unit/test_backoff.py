"""Reconnects back off, but boundedly: a database that is back is found again within a known time."""
from acme_platform import ChangeListener


def test_the_listener_doubles_its_pause_up_to_the_maximum():
    listener = ChangeListener("postgresql://u@127.0.0.1:1/x", reconnect_delay=0.25, max_reconnect_delay=2.0)
    assert [listener.reconnect_delay(n) for n in range(6)] == [0.25, 0.25, 0.5, 1.0, 2.0, 2.0]


def test_a_maximum_below_the_first_pause_is_the_first_pause():
    listener = ChangeListener("postgresql://u@127.0.0.1:1/x", reconnect_delay=1.0, max_reconnect_delay=0.1)
    assert listener.reconnect_delay(10) == 1.0


def test_the_consumer_backs_off_within_its_poll_interval():
    from acme_platform import Consumer

    class FakeDatabase:   # the consumer only reads its settings here; no connection is made
        from acme_platform import Settings
        settings = Settings(database_url="postgresql://u@127.0.0.1:1/x")

    consumer = Consumer(FakeDatabase(), "g", ["dom.thing_happened"], lambda uow, ev: None, poll_interval=1.0)
    delays = [consumer.reconnect_delay(n) for n in range(1, 7)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
