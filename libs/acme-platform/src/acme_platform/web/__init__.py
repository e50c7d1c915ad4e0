"""Flask integration: app factory, per-request unit of work, problem+json errors, health, metrics, and the
HTTP kit every service builds on (request/response bases, UTC datetimes, Problem + problems(), bearer auth).

Public API of acme_platform.web (services import from here).
"""
from .app import Platform, accepts_forms, create_app, platform
from .auth import CUSTOMER, STAFF, BearerAuth, TokenVerifier, bearer_token
from .forwarded import client_address, request_is_https
from .models import Problem, QueryModel, RequestModel, ResponseModel, UtcDatetime, problems
from .problems import ProblemException, problem
from .request_uow import current_uow
from .validation import StorableStr, make_spec, serve_openapi, storable

__all__ = ["create_app", "platform", "Platform", "current_uow", "bearer_token", "client_address", "problem",
           "accepts_forms", "request_is_https",
           "ProblemException", "make_spec", "serve_openapi", "StorableStr", "storable",
           "BearerAuth", "TokenVerifier", "CUSTOMER", "STAFF",
           "RequestModel", "QueryModel", "ResponseModel", "UtcDatetime", "Problem", "problems"]
