"""The unit of work domain code receives: one connection, one transaction, whatever domains it touches."""
from __future__ import annotations

import logging
from typing import Any, Callable

from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)


class UnitOfWork:
    def __init__(self, connection: Connection | None):
        self._connection = connection
        self._before: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []
        # Scratch space for platform features that need per-transaction state (e.g. the outbox's
        # "notify once per transaction"), keyed by feature name.
        self.state: dict[str, Any] = {}

    @property
    def connection(self) -> Connection:
        """The connection whose transaction every domain call of this unit of work shares."""
        return self._connection

    def execute(self, statement, parameters=None):
        return self.connection.execute(statement, parameters)

    def before_commit(self, fn: Callable[[], None]) -> None:
        """Run fn inside the transaction, just before COMMIT (once per registration)."""
        self._before.append(fn)

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run fn after a successful COMMIT; never after a rollback. Failures are logged, not raised:
        the transaction is already durable."""
        self._after.append(fn)

    def _before_commit(self) -> None:
        while self._before:
            self._before.pop(0)()

    def _after_commit(self) -> None:
        for fn in self._after:
            try:
                fn()
            except Exception:  # pragma: no cover - logged for operators
                log.exception("after-commit hook failed")
        self._after.clear()
