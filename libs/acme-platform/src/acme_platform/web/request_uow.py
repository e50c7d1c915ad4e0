"""One unit of work per request, opened on first use, committed only if the response is a success."""
from __future__ import annotations

from flask import Flask, current_app, g

from ..uow import UnitOfWork


# The app's Platform (app.py) in app.extensions. Looked up by key, not through app.platform(): app.py
# builds on this module (UnitOfWorkFlask), so importing it back would close an import circle.
EXTENSION = "acme"


class _RolledBack(Exception):
    """Thrown into the unit of work to roll back a request that answered with an error status."""


def current_uow() -> UnitOfWork:
    """The request's unit of work; every domain call in one request shares its transaction."""
    uow = g.get("_acme_uow")
    if uow is None:
        cm = current_app.extensions[EXTENSION].database.unit_of_work()
        uow = cm.__enter__()
        g._acme_uow_cm = cm
        g._acme_uow = uow
    return uow


def finish(success: bool, exc: BaseException | None = None) -> None:
    """Commit or roll back the request's unit of work, if one was opened. Commit errors propagate
    (the caller turns them into a problem response)."""
    cm = g.pop("_acme_uow_cm", None)
    g.pop("_acme_uow", None)
    if cm is None:
        return
    if success:
        cm.__exit__(None, None, None)
    else:
        error = exc or _RolledBack()
        try:
            cm.__exit__(type(error), error, error.__traceback__)
        except _RolledBack:
            pass


class UnitOfWorkFlask(Flask):
    """Flask whose dispatch commits the request's transaction before the response leaves.

    Committing in dispatch_request (not after_request) means a failed COMMIT is handled like any
    other error: the client gets a problem response, never a 201 for data that was not saved.
    """

    def dispatch_request(self):
        try:
            response = self.make_response(super().dispatch_request())
        except BaseException as exc:
            finish(False, exc)
            raise
        finish(response.status_code < 400)
        return response

    def do_teardown_request(self, exc=None):
        # Safety net: an error raised outside dispatch (a before_request hook) still rolls back.
        finish(False, exc)
        super().do_teardown_request(exc)
