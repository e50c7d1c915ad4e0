import uuid

import pytest
from acme_platform import ChangeListener, Database, Settings

from acme_identity import register_customer, register_staff

PASSWORD = "correct horse battery"


@pytest.fixture
def new_email():
    """Factory of emails no other test uses."""
    return lambda tag="user": f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def customer(database, new_email):
    """A committed customer account; its password is PASSWORD."""
    with database.unit_of_work() as uow:
        return register_customer(uow, email=new_email("cust"), password=PASSWORD, name="Cus Tomer")


@pytest.fixture
def staff(database, new_email):
    with database.unit_of_work() as uow:
        return register_staff(uow, email=new_email("staff"), password=PASSWORD, name="Staff Member")


@pytest.fixture(scope="session")
def listener(migrated_database_url):
    """One LISTEN connection for the session, as in a service process (each test makes its own
    Authenticator on it)."""
    lst = ChangeListener(migrated_database_url, application_name="identity-tests").start()
    assert lst.wait_connected(10), "change listener did not connect"
    yield lst
    lst.stop()


@pytest.fixture(scope="session")
def other_database(migrated_database_url):
    """A second engine: 'another process' writing to the same database."""
    db = Database(Settings(database_url=migrated_database_url, service_name="identity-tests-other", pool_size=2))
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def admin_database(migrated_database_url):
    """The administrator's login: for assertions on what no service role may read (password hashes)."""
    db = Database(Settings(database_url=migrated_database_url, service_name="identity-tests-admin", pool_size=2))
    yield db
    db.dispose()
