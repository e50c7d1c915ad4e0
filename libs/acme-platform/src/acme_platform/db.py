"""The SQLAlchemy engine on psycopg 3, configured once per process."""
from __future__ import annotations

import contextlib
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import gevent_compat
from .config import Settings
from .uow import UnitOfWork


def create_engine(settings: Settings, *, pool_size: int | None = None, **overrides) -> Engine:
    options = (
        f"-c statement_timeout={settings.statement_timeout_ms}"
        f" -c lock_timeout={settings.lock_timeout_ms}"
        f" -c idle_in_transaction_session_timeout={settings.idle_in_transaction_timeout_ms}"
    )
    kwargs = dict(
        pool_size=pool_size or settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        # A connection killed by a Postgres restart is noticed before a request uses it.
        pool_pre_ping=True,
        pool_use_lifo=True,
        connect_args={
            "application_name": settings.application_name,
            "connect_timeout": settings.connect_timeout,
            "options": options,
        },
    )
    kwargs.update(overrides)
    engine = sa.create_engine(settings.sqlalchemy_url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # noqa: ARG001
        # Checked per new connection (cheap): covers engines created before a gevent worker patched.
        gevent_compat.ensure_cooperative_waits()

    return engine


class Database:
    """One per process: the engine plus the unit-of-work factory that domain code receives."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or create_engine(settings)

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """Commit on success, roll back on any exception; after-commit hooks run only after a commit."""
        with self.engine.connect() as connection:
            uow = UnitOfWork(connection)
            transaction = connection.begin()
            try:
                yield uow
                uow._before_commit()
                transaction.commit()
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
        uow._after_commit()

    def dispose(self) -> None:
        self.engine.dispose()
