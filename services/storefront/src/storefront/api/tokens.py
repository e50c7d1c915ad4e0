"""Log in (POST /v1/tokens) and log out (DELETE /v1/tokens/current)."""
from __future__ import annotations

import acme_identity
from acme_platform import Principal
from acme_platform.web import client_address, current_uow, platform, problems
from flask import Blueprint
from spectree import Response, SpecTree

from ..auth import BEARER, customer_required
from ..schemas import TokenIn, TokenOut


def blueprint(spec: SpecTree) -> Blueprint:
    bp = Blueprint("tokens", __name__)

    @bp.post("/v1/tokens")
    @spec.validate(json=TokenIn, resp=Response(HTTP_201=TokenOut, **problems(401, 415, 422, 429)), tags=["tokens"])
    def issue(json: TokenIn):
        """Exchange a customer's email and password for a bearer token. 401 on bad credentials; 429 (with Retry-After) after
        too many failures for the account or the client address, or while this server is busy checking passwords."""
        issued = acme_identity.log_in(platform().database.unit_of_work, email=json.email, password=json.password,
                                      kind="customer", client_address=client_address())
        return TokenOut.model_validate(issued), 201

    @bp.delete("/v1/tokens/current")
    @customer_required
    @spec.validate(resp=Response("HTTP_204", **problems(401, 403)), tags=["tokens"], security=BEARER)
    def revoke(principal: Principal):
        """Revoke the token that authenticates this request (log out). Every service refuses it within a second."""
        acme_identity.revoke_token(current_uow(), principal.token_id)
        return "", 204

    return bp
