"""H mode: the identity service. Every other service asks it who a bearer token belongs to."""
from __future__ import annotations

import acme_identity
from acme_platform.web import bearer_token, current_uow, platform
from flask import jsonify, request

from common import make_app, principal_json


def authenticator() -> acme_identity.Authenticator:
    # The same cached, revocation-aware authenticator the storefront uses in-process.
    return platform().per_process("bench.authenticator", lambda p: acme_identity.Authenticator(p.listener))


def create_app():
    app = make_app(__name__, "identity", ["identity"])

    @app.get("/v1/principal")
    def principal():
        p = authenticator().authenticate(current_uow(), bearer_token(), required_scope=request.args.get("scope"))
        return jsonify(principal_json(p))

    @app.get("/v1/hop/authenticate")
    def hop_authenticate():
        # Hops sweep: identity's own read (no cache), the same call the L hops app makes in-process.
        return jsonify(principal_json(acme_identity.authenticate(current_uow(), bearer_token())))

    return app
