"""Issuing, authenticating and revoking tokens against a real Postgres."""
import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from acme_platform import Principal

from acme_identity import (
    TOKEN_REVOKED,
    BadCredentials,
    MissingScope,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    authenticate,
    issue_token,
    register_customer,
    revoke_token,
    revoke_token_secret,
)
from acme_identity import passwords

PASSWORD = "correct horse battery"


def _issue(database, account, **kw):
    with database.unit_of_work() as uow:
        return issue_token(uow, email=account.email, password=PASSWORD, kind=account.kind, **kw)


def _auth(database, token, **kw):
    with database.unit_of_work() as uow:
        return authenticate(uow, token, **kw)


def _revocation_events(database, token_id):
    with database.unit_of_work() as uow:
        return uow.connection.exec_driver_sql(
            "SELECT topic, payload FROM identity.outbox WHERE topic = %(t)s AND key = %(k)s",
            {"t": TOKEN_REVOKED, "k": token_id},
        ).all()


def test_issue_token_for_a_customer(database, customer):
    before = datetime.now(timezone.utc)
    issued = _issue(database, customer, ttl=timedelta(hours=2))
    assert issued.token.startswith("acme_") and len(issued.token) == 48
    assert issued.scopes == frozenset({"customer"})
    assert before + timedelta(hours=2) <= issued.expires_at <= datetime.now(timezone.utc) + timedelta(hours=2)
    assert uuid.UUID(issued.token_id)


def test_only_the_sha256_of_the_token_is_stored(database, customer):
    issued = _issue(database, customer)
    with database.unit_of_work() as uow:
        row = uow.connection.exec_driver_sql(
            "SELECT t::text AS everything, token_hash FROM identity.tokens t WHERE id = %(id)s", {"id": issued.token_id}
        ).first()
    assert bytes(row.token_hash) == hashlib.sha256(issued.token.encode()).digest()
    assert issued.token[5:] not in row.everything


def test_staff_token_has_staff_scope(database, staff):
    issued = _issue(database, staff)
    assert issued.scopes == frozenset({"staff"})
    assert _auth(database, issued.token, required_scope="staff").is_staff


def test_login_email_is_case_insensitive(database, customer):
    with database.unit_of_work() as uow:
        issued = issue_token(uow, email=f" {customer.email.upper()} ", password=PASSWORD)
    assert _auth(database, issued.token).subject_id == customer.id


def test_bad_credentials_look_the_same_whatever_went_wrong(database, customer, staff, new_email):
    attempts = [
        dict(email=new_email("nobody"), password=PASSWORD),                  # unknown email
        dict(email=customer.email, password=PASSWORD + "!"),                 # wrong password
        dict(email=customer.email, password=PASSWORD, kind="staff"),         # customer asking for staff
        dict(email=staff.email, password=PASSWORD, kind="customer"),         # staff asking for customer
        dict(email="not an email", password=PASSWORD),
        dict(email=customer.email, password="x" * 300),                      # longer than any password
    ]
    answers = []
    for attempt in attempts:
        with database.unit_of_work() as uow:
            with pytest.raises(BadCredentials) as info:
                issue_token(uow, **attempt)
            answers.append((str(info.value), info.value.to_dict()))
    assert all(a == answers[0] for a in answers)
    assert answers[0][1] == {"code": "identity.bad_credentials", "detail": "Email or password is incorrect"}


def test_unknown_email_still_spends_an_argon2_verification(database, new_email, monkeypatch):
    calls = []
    real = passwords.PasswordHasher.verify
    monkeypatch.setattr(passwords.PasswordHasher, "verify", lambda self, *a: calls.append(1) or real(self, *a))
    with database.unit_of_work() as uow:
        with pytest.raises(BadCredentials):
            issue_token(uow, email=new_email("ghost"), password=PASSWORD)
    assert calls == [1]


def test_authenticate_returns_the_principal(database, customer):
    issued = _issue(database, customer)
    principal = _auth(database, issued.token, required_scope="customer")
    assert principal == Principal(subject_id=customer.id, kind="customer", scopes=frozenset({"customer"}),
                                  token_id=issued.token_id, email=customer.email)


def test_authenticate_is_one_statement_on_the_token_hash_index(database, customer):
    issued = _issue(database, customer)
    statements = []

    def record(conn, cursor, statement, *rest):
        statements.append(statement)

    with database.unit_of_work() as uow:
        sa.event.listen(uow.connection, "before_cursor_execute", record)
        try:
            authenticate(uow, issued.token)
        finally:
            sa.event.remove(uow.connection, "before_cursor_execute", record)
    assert len(statements) == 1
    with database.unit_of_work() as uow:
        uow.connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in uow.connection.exec_driver_sql(
            "EXPLAIN " + statements[0].replace("%(token_hash)s", "%(h)s"), {"h": b"\0" * 32}))
    assert "tokens_token_hash_key" in plan


def test_missing_scope(database, customer):
    issued = _issue(database, customer)
    with pytest.raises(MissingScope) as info:
        _auth(database, issued.token, required_scope="staff")
    assert info.value.extra == {"required": "staff"}
    assert info.value.code == "identity.missing_scope"


def test_expired_token(database, admin_database, customer):
    issued = _issue(database, customer)
    with admin_database.unit_of_work() as uow:   # moving time is the test's doing, not a service's
        uow.connection.exec_driver_sql(
            "UPDATE identity.tokens SET created_at = now() - interval '2 hours', "
            "expires_at = now() - interval '1 second' WHERE id = %(id)s", {"id": issued.token_id})
    with pytest.raises(TokenExpired) as info:
        _auth(database, issued.token)
    assert info.value.code == "identity.token_expired"


@pytest.mark.parametrize("token", ["", "garbage", "Bearer x", "acme_" + "A" * 43])
def test_unknown_or_malformed_token_is_invalid(database, token):
    with database.unit_of_work() as uow:
        with pytest.raises(TokenInvalid):
            authenticate(uow, token)
        assert uow.connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_revoke_by_id_is_idempotent_and_publishes_once(database, customer):
    issued = _issue(database, customer)
    for _ in range(2):
        with database.unit_of_work() as uow:
            revoke_token(uow, issued.token_id)
    with pytest.raises(TokenRevoked) as info:
        _auth(database, issued.token)
    assert info.value.code == "identity.token_revoked"
    events = _revocation_events(database, issued.token_id)
    assert [(e.topic, e.payload) for e in events] == [
        (TOKEN_REVOKED, {"token_id": issued.token_id, "account_id": customer.id})
    ]


def test_revoke_by_secret(database, customer):
    issued, other = _issue(database, customer), _issue(database, customer)
    with database.unit_of_work() as uow:
        revoke_token_secret(uow, issued.token)
        revoke_token_secret(uow, issued.token)
    with pytest.raises(TokenRevoked):
        _auth(database, issued.token)
    assert _auth(database, other.token).token_id == other.token_id     # only that one token
    assert len(_revocation_events(database, issued.token_id)) == 1


def test_revoking_unknown_or_malformed_tokens_is_a_no_op(database):
    with database.unit_of_work() as uow:
        revoke_token(uow, str(uuid.uuid4()))
        revoke_token(uow, "not-a-uuid")
        revoke_token_secret(uow, "acme_" + "B" * 43)
        revoke_token_secret(uow, "garbage")
        assert uow.connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_revocation_rolled_back_with_the_transaction(database, customer):
    issued = _issue(database, customer)
    with pytest.raises(RuntimeError):
        with database.unit_of_work() as uow:
            revoke_token(uow, issued.token_id)
            raise RuntimeError("caller failed later")
    assert _auth(database, issued.token).token_id == issued.token_id
    assert _revocation_events(database, issued.token_id) == []


def test_invalid_ttl_and_kind_are_programming_errors(database, customer):
    with database.unit_of_work() as uow:
        with pytest.raises(ValueError):
            issue_token(uow, email=customer.email, password=PASSWORD, ttl=timedelta(0))
        with pytest.raises(ValueError):
            issue_token(uow, email=customer.email, password=PASSWORD, kind="admin")


def test_weak_hash_is_upgraded_on_login(database, admin_database, new_email, monkeypatch):
    with database.unit_of_work() as uow:
        account = register_customer(uow, email=new_email("rehash"), password=PASSWORD, name="Re Hash")
    monkeypatch.delenv(passwords.PROFILE_ENV)     # production parameters from here on
    with database.unit_of_work() as uow:
        issue_token(uow, email=account.email, password=PASSWORD)
    with admin_database.unit_of_work() as uow:   # only the administrator may read a stored hash
        stored = uow.connection.exec_driver_sql(
            "SELECT password_hash FROM identity.accounts WHERE id = %(id)s", {"id": account.id}).scalar()
    assert not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, PASSWORD)
