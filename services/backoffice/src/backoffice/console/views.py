"""Console routes: log-in/out, one page per report, the dead-letter actions, and their JSON twins.

Pages need the session cookie (no cookie, or a revoked/expired token: back to the log-in form); every
POST but the log-in itself needs the session's CSRF token. The JSON under /v1/console/ accepts a staff
bearer token (scripts) or the session cookie (the same browser).
"""
from __future__ import annotations

from functools import wraps

import acme_identity
from acme_platform import Forbidden, Principal, TooManyRequests, Unauthenticated, audit
from acme_platform.events.dead_letters import DeadLetterError, discard, parse_id, parse_payload, request_replay
from acme_platform.web import STAFF, accepts_forms, client_address, current_uow, platform, problem
from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for

from ..auth import AUTH
from . import graph, reports, session

PAGES = [("platform", "Platform"), ("schemas", "Schemas"), ("dependencies", "Dependencies"),
         ("events", "Events"), ("roles", "Roles")]
REFRESH_SECONDS = 5


def _authenticator():
    return AUTH.verifier()   # one per process, shared with the bearer API (revocations reach both)


def _session_principal() -> Principal | None:
    token = session.session_token()
    if token is None:
        return None
    try:
        principal = _authenticator().authenticate(current_uow(), token, required_scope=STAFF)
    except (Unauthenticated, Forbidden):
        return None
    g.console_token = token
    return principal


def _actor(principal: Principal) -> str:
    try:
        return acme_identity.get_account(current_uow(), principal.subject_id).email
    except acme_identity.AccountNotFound:
        return principal.subject_id


def _record(principal: Principal, action: str, target: str, detail: dict | None = None) -> None:
    audit.record(current_uow().connection, actor_id=principal.subject_id, actor=_actor(principal),
                 service=platform().settings.service_name, action=action, target=target, detail=detail)


def _to_login() -> Response:
    resp = redirect(url_for("console.login", next=request.path), code=303)
    if session.session_token():
        session.end(resp)   # a revoked or expired token: drop the cookie too
    return resp


def _csrf_refused() -> Response:
    return problem(403, "Forbidden", "the form's CSRF token is missing or wrong; reload the page and try again",
                   code="console.csrf", field="csrf_token")


def page(view):
    """A console page or action: a live staff session, and for POSTs the session's CSRF token."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        principal = _session_principal()
        if principal is None:
            if request.method == "POST":
                return problem(401, "Unauthenticated", "log in at /console/login", code="console.unauthenticated")
            return _to_login()
        if request.method == "POST" and not session.csrf_ok(g.console_token):
            return _csrf_refused()
        g.principal = principal
        return view(*args, **kwargs)
    return wrapped


def _render(template: str, active: str, **context) -> str:
    return render_template(template, pages=PAGES, active=active, refresh=REFRESH_SECONDS,
                           csrf_token=session.csrf_token_for(g.console_token), **context)


def blueprints() -> list[Blueprint]:
    bp = Blueprint("console", __name__, template_folder="templates")

    @bp.get("/console/login")
    def login():
        value = session.new_login_csrf()
        resp = Response(render_template("login.html", csrf_token=value, error=None, next=_safe_next()))
        session.set_login_csrf(resp, value)
        return resp

    @bp.post("/console/login")
    @accepts_forms
    def login_submit():
        if not session.login_csrf_ok():
            return _csrf_refused()
        email, password = request.form.get("email", "").strip(), request.form.get("password", "")
        try:
            issued = acme_identity.log_in(platform().database.unit_of_work, email=email, password=password,
                                          kind="staff", client_address=client_address())
        except TooManyRequests as exc:
            resp = _login_again("Too many attempts; try again in a while.", 429)
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        except Unauthenticated:
            return _login_again("Email or password is wrong, or this is not a staff account.", 401)
        principal = _authenticator().authenticate(current_uow(), issued.token, required_scope=STAFF)
        _record(principal, "console.login", email, {"client": client_address()})
        resp = redirect(_safe_next() or url_for("console.platform_page"), code=303)
        session.start(resp, issued.token, issued.expires_at)
        return resp

    @bp.post("/console/logout")
    @accepts_forms
    @page
    def logout():
        _record(g.principal, "console.logout", _actor(g.principal))
        acme_identity.revoke_token(current_uow(), g.principal.token_id)
        resp = redirect(url_for("console.login"), code=303)
        session.end(resp)
        return resp

    @bp.get("/console/")
    @page
    def home():
        return redirect(url_for("console.platform_page"), code=303)

    @bp.get("/console/platform")
    @page
    def platform_page():
        return _render("platform.html", "platform", report=reports.platform_report())

    @bp.get("/console/schemas")
    @page
    def schemas_page():
        return _render("schemas.html", "schemas", report=reports.schemas_report())

    @bp.get("/console/dependencies")
    @page
    def dependencies_page():
        report = reports.dependencies_report()
        return _render("dependencies.html", "dependencies", report=report, svg=graph.dependency_svg(report))

    @bp.get("/console/events")
    @page
    def events_page():
        return _render("events.html", "events", report=reports.events_report(), message=request.args.get("done"))

    @bp.get("/console/roles")
    @page
    def roles_page():
        return _render("roles.html", "roles", report=reports.roles_report(), audit=reports.audit_report("console."))

    @bp.post("/console/events/dead-letters/<raw_id>/replay")
    @accepts_forms
    @page
    def replay(raw_id: str):
        raw_payload = request.form.get("payload", "").strip()
        try:
            letter_id = parse_id(raw_id)
            payload = parse_payload(raw_payload) if raw_payload else None
            row = request_replay(current_uow().connection, letter_id, payload)
        except DeadLetterError as exc:
            return problem(422, "Cannot replay", str(exc), code="console.dead_letter",
                           field="payload" if "payload" in str(exc) else "id")
        _record(g.principal, "events.replay", f"dead letter {letter_id}",
                {"group": row["consumer_group"], "topic": row["topic"], "key": row["key"],
                 "payload_corrected": payload is not None})
        return redirect(url_for("console.events_page", done=f"replay of dead letter {letter_id} requested"), code=303)

    @bp.post("/console/events/dead-letters/<raw_id>/discard")
    @accepts_forms
    @page
    def discard_letter(raw_id: str):
        try:
            letter_id = parse_id(raw_id)
            row = discard(current_uow().connection, letter_id)
        except DeadLetterError as exc:
            return problem(422, "Cannot discard", str(exc), code="console.dead_letter", field="id")
        _record(g.principal, "events.discard", f"dead letter {letter_id}",
                {"group": row["consumer_group"], "topic": row["topic"], "key": row["key"]})
        return redirect(url_for("console.events_page", done=f"dead letter {letter_id} discarded"), code=303)

    api = Blueprint("console_api", __name__)

    @api.before_request
    def _staff_by_bearer_or_cookie():
        if request.headers.get("Authorization"):
            g.principal = AUTH.authenticate(STAFF)   # 401 without a token, 403 for a customer's
            return None
        if _session_principal() is None:
            return problem(401, "Unauthenticated", "send 'Authorization: Bearer <token>' or log in at /console/login",
                           code="platform.unauthenticated")
        return None

    builders = {"platform": reports.platform_report, "schemas": reports.schemas_report,
                "dependencies": reports.dependencies_report, "events": reports.events_report,
                "roles": lambda: {**reports.roles_report(), "audit": reports.audit_report("console.")}}
    for name, build in builders.items():
        api.add_url_rule(f"/v1/console/{name}", f"{name}_json", (lambda b=build: jsonify(b())), methods=["GET"])
    return [bp, api]


def _safe_next() -> str | None:
    """Where to go after log-in: only a console path of this site (never an open redirect)."""
    target = request.values.get("next", "")
    return target if target.startswith("/console/") and "//" not in target and "\\" not in target else None


def _login_again(error: str, status: int) -> Response:
    value = session.new_login_csrf()
    resp = Response(render_template("login.html", csrf_token=value, error=error, next=_safe_next()), status=status)
    session.set_login_csrf(resp, value)
    return resp


