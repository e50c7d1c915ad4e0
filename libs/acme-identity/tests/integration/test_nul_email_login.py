"""An email Postgres cannot store cannot belong to an account: a login with one is bad credentials."""
import pytest

import acme_identity


def test_login_with_a_nul_in_the_email_is_bad_credentials(database):
    with pytest.raises(acme_identity.BadCredentials):
        with database.unit_of_work() as uow:
            acme_identity.issue_token(uow, email="ada\x00@example.com", password="long enough password")
