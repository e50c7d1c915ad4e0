import hashlib

from acme_orders.model import normalize_items, request_hash


def test_line_order_does_not_change_the_hash():
    assert request_hash([("A-1", 1), ("B-2", 2)]) == request_hash([("B-2", 2), ("A-1", 1)])


def test_normalised_spellings_hash_alike():
    a = normalize_items([(" a-1", 1), ("b-2", 2)])
    b = normalize_items([("B-2", 2), ("A-1 ", 1)])
    assert request_hash(a) == request_hash(b)


def test_quantity_and_sku_change_the_hash():
    base = request_hash([("A-1", 1), ("B-2", 2)])
    assert request_hash([("A-1", 1), ("B-2", 3)]) != base
    assert request_hash([("A-1", 1), ("B-3", 2)]) != base
    assert request_hash([("A-1", 1)]) != base


def test_swapping_quantities_between_skus_changes_the_hash():
    assert request_hash([("A-1", 1), ("B-2", 2)]) != request_hash([("A-1", 2), ("B-2", 1)])


def test_hash_is_sha256_of_the_sorted_canonical_json():
    # Stored in the database: a change of encoding would make every stored key look "reused".
    expected = hashlib.sha256(b'[["A-1",1],["B-2",2]]').hexdigest()
    assert request_hash([("B-2", 2), ("A-1", 1)]) == expected
