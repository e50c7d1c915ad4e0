"""identity: log-in checks that keep password digests inside the database

Revision ID: id0002
Revises: id0001

Services may not read identity.accounts.password_hash (their roles get every other column). A log-in asks
password_challenge() for the account's argon2 parameters and salt (never the digest), computes the argon2
hash of the offered password itself (CPU stays in the service, off the database), and asks
password_matches() whether that equals the stored hash. Both run as identity's owner (SECURITY DEFINER)
with a fixed search_path, and only roles granted EXECUTE (identity's writer) may call them.
"""
from alembic import op

revision = "id0002"
down_revision = "id0001"
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    op.execute(
        r"""
        CREATE FUNCTION identity.password_challenge(p_email text)
        RETURNS TABLE (account_id uuid, kind text, params text, digest_chars integer)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $fn$
            SELECT a.id, a.kind,
                   regexp_replace(a.password_hash, '\$[^$]*$', ''),
                   char_length(substring(a.password_hash FROM '[^$]*$'))
            FROM identity.accounts a
            WHERE lower(a.email) = lower(p_email)
        $fn$
        """
    )
    op.execute(
        """
        CREATE FUNCTION identity.password_matches(p_account_id uuid, p_candidate text)
        RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $fn$
            SELECT coalesce((SELECT a.password_hash = p_candidate FROM identity.accounts a
                             WHERE a.id = p_account_id), false)
        $fn$
        """
    )
    # CREATE FUNCTION grants EXECUTE to PUBLIC unless default privileges say otherwise: never rely on it.
    op.execute("REVOKE EXECUTE ON FUNCTION identity.password_challenge(text) FROM PUBLIC")
    op.execute("REVOKE EXECUTE ON FUNCTION identity.password_matches(uuid, text) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION identity.password_matches(uuid, text)")
    op.execute("DROP FUNCTION identity.password_challenge(text)")
