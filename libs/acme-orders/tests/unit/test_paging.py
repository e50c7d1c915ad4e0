import uuid
from datetime import datetime, timedelta, timezone

import pytest

from acme_orders import InvalidOrder
from acme_orders.model import check_limit, check_status, decode_cursor, encode_cursor, parse_order_id


def test_cursor_round_trips_to_the_microsecond():
    moment = datetime(2026, 11, 25, 12, 30, 1, 123456, tzinfo=timezone.utc)
    oid = uuid.uuid4()
    cursor = encode_cursor(moment, str(oid))
    assert "|" not in cursor and "=" not in cursor  # opaque and URL-safe
    assert decode_cursor(cursor) == (moment, oid)


def test_cursor_keeps_the_instant_for_non_utc_offsets():
    moment = datetime(2026, 11, 25, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    decoded, _ = decode_cursor(encode_cursor(moment, str(uuid.uuid4())))
    assert decoded == moment


def test_no_cursor_means_first_page():
    assert decode_cursor(None) is None


@pytest.mark.parametrize("cursor", [
    "", "not base64 at all!", "Zm9v",  # "foo"
    encode_cursor(datetime(2026, 1, 1), str(uuid.uuid4())),  # naive timestamp
    "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHxub3QtYS11dWlk",  # valid time, bad uuid
    "x" * 500, 12,
])
def test_bad_cursors_are_invalid_input_on_after(cursor):
    with pytest.raises(InvalidOrder) as exc:
        decode_cursor(cursor)
    assert exc.value.extra["field"] == "after"


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_limits_in_range(limit):
    assert check_limit(limit) == limit


@pytest.mark.parametrize("limit", [0, 101, -5, True, 2.5, "10", None])
def test_limits_out_of_range(limit):
    with pytest.raises(InvalidOrder) as exc:
        check_limit(limit)
    assert exc.value.extra["field"] == "limit"


def test_status_filter():
    assert check_status(None) is None
    assert check_status("placed") == "placed"
    with pytest.raises(InvalidOrder) as exc:
        check_status("shipped")
    assert exc.value.extra["field"] == "status"


def test_order_ids_parse_or_are_none():
    oid = uuid.uuid4()
    assert parse_order_id(str(oid)) == oid
    assert parse_order_id(oid) == oid
    for bad in ["", "nope", "1234", None, 5, "' OR 1=1 --"]:
        assert parse_order_id(bad) is None
