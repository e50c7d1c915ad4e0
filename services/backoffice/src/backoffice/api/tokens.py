"""Staff log-in and log-out."""
from __future__ import annotations

import acme_identity
from acme_platform import Principal
from acme_platform.web import client_address, current_uow, platform, problems
from flask import Blueprint
from spectree import Response

from ..auth import BEARER, staff_required
from ..schemas import TokenIn, TokenOut


def blueprint(spec) -> tuple[Blueprint, Blueprint]:
    public = Blueprint("tokens_public", __name__)
    protected = Blueprint("tokens", __name__)

    @public.post("/v1/tokens")
    @spec.validate(json=TokenIn, resp=Response(HTTP_201=TokenOut, **problems(401, 415, 422, 429)), tags=["tokens"])
    def issue(json: TokenIn):
        """Log in: a staff token for a staff account's email and password (401 for anything else;
        429 with Retry-After after too many failures, or while this server is busy checking passwords)."""
        issued = acme_identity.log_in(platform().database.unit_of_work, email=json.email, password=json.password,
                                      kind="staff", client_address=client_address())
        return TokenOut(token=issued.token, expires_at=issued.expires_at), 201

    @protected.delete("/v1/tokens/current")
    @staff_required
    @spec.validate(resp=Response("HTTP_204", **problems(401, 403)), tags=["tokens"], security=BEARER)
    def revoke_current(principal: Principal):
        """Log out: revoke the token this request was made with."""
        acme_identity.revoke_token(current_uow(), principal.token_id)
        return "", 204

    return public, protected
