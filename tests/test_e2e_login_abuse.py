"""Brute force (issue 12): failed logins are throttled per account across every instance of every
service, because the counters live in Postgres. Half the guesses go to the storefront, half to the
backoffice: if either kept its own count, the 11th guess would still be a 401."""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import PASSWORD, assert_problem, call, sign_up, unique_email  # noqa: E402

pytest_plugins = ["e2e_support"]

ACCOUNT_LIMIT = 10   # acme_identity.throttle.Policy's default: the 11th failure within the window is refused


def _guess(stack, i: int, email: str, password: str):
    # Alternate services: storefront on even guesses, backoffice on odd ones.
    base = stack.sf if i % 2 == 0 else stack.bo
    return call("POST", f"{base}/v1/tokens", json={"email": email, "password": password})


def _assert_throttled(r) -> int:
    body = assert_problem(r, 429, code="identity.login_throttled")
    retry_after = int(r.headers["Retry-After"])
    assert 0 < retry_after <= 900, r.headers
    assert body["retry_after"] == retry_after
    return retry_after


def test_thirty_wrong_passwords_across_both_services_are_refused_from_the_eleventh_on(stack):
    customer = sign_up(stack)
    statuses = []
    for i in range(30):
        r = _guess(stack, i, customer.email, f"wrong password {i}")
        statuses.append(r.status_code)
        if i < ACCOUNT_LIMIT:
            assert_problem(r, 401, code="identity.bad_credentials")
        else:
            _assert_throttled(r)
    assert statuses == [401] * ACCOUNT_LIMIT + [429] * (30 - ACCOUNT_LIMIT)
    # While throttled even the right password is refused, by both services: a guess that happens to be
    # right must not be distinguishable from a wrong one.
    _assert_throttled(_guess(stack, 0, customer.email, PASSWORD))
    _assert_throttled(_guess(stack, 1, customer.email, PASSWORD))
    # The throttle is per account: the customer's existing token still works, and another account
    # logs in from the same address.
    assert call("GET", f"{stack.sf}/v1/wallet", headers=customer.auth).status_code == 200
    assert sign_up(stack).token


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(stack):
    email = unique_email("ghost")
    statuses = [_guess(stack, i, email, "wrong password").status_code for i in range(ACCOUNT_LIMIT + 2)]
    assert statuses == [401] * ACCOUNT_LIMIT + [429, 429]

