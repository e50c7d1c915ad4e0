"""The identity schema as SQLAlchemy Core tables (the migrations are the source of truth for DDL;
this mirrors them for queries and for autogenerate comparisons)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

SCHEMA = "identity"
metadata = sa.MetaData(schema=SCHEMA)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('customer', 'staff')", name="accounts_kind_valid"),
    sa.CheckConstraint("char_length(email) BETWEEN 3 AND 254", name="accounts_email_length"),
    sa.CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="accounts_name_length"),
)
# Case-insensitive uniqueness, and the index every login lookup uses.
sa.Index("accounts_email_lower_key", sa.func.lower(accounts.c.email), unique=True)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
    sa.Column("token_hash", sa.LargeBinary, nullable=False),
    sa.Column("account_id", sa.Uuid(as_uuid=False), sa.ForeignKey(accounts.c.id, name="tokens_account_id_fkey"),
              nullable=False),
    sa.Column("scopes", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("token_hash", name="tokens_token_hash_key"),   # the authenticate() lookup
    sa.CheckConstraint("octet_length(token_hash) = 32", name="tokens_token_hash_sha256"),
    sa.CheckConstraint("expires_at > created_at", name="tokens_expiry_after_creation"),
)
sa.Index("tokens_account_id", tokens.c.account_id)

# The login throttle's shared counters (migration id0003; acme_identity.throttle).
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("attempts", sa.BigInteger, nullable=False),
    sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("scope IN ('account', 'address')", name="login_failures_scope_valid"),
    sa.CheckConstraint("char_length(key) BETWEEN 1 AND 320", name="login_failures_key_length"),
    sa.CheckConstraint("attempts >= 0", name="login_failures_attempts_positive"),
)
sa.Index("login_failures_window_started_at", login_failures.c.window_started_at)
