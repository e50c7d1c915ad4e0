"""The data behind each console page, as plain JSON-able dicts (the HTML renders exactly these).

Everything is read live from the shared database: the instance registry (what runs), each schema's
migration ledger, consumer offsets and dead letters, the audit log, and the role catalogs.
"""
from __future__ import annotations

import sqlalchemy as sa
from acme_platform import audit
from acme_platform.events.dead_letters import list_dead_letters
from acme_platform.events.lag import all_groups_lag
from acme_platform.roles.names import RoleNames
from acme_platform.roles.plan import parse_comment
from acme_platform.status import collect_status, roles_drift
from acme_platform.web import current_uow, platform

from . import dependencies


def _database_url() -> str:
    return platform().settings.database_url


def action_for(finding: dict) -> str:
    """What an operator should do about a skew finding, in one sentence."""
    if finding["kind"] == "blocks_contract":
        return (f"contract revision {finding['revision']} is blocked by {finding['service']}@{finding['host']} "
                f"(pid {finding['pid']}) running {finding['package']} {finding['version']}: upgrade it to "
                f">= {finding['min_compatible_version']} or wait until it is gone")
    if finding["kind"] == "behind":
        return (f"{finding['service']}@{finding['host']} (pid {finding['pid']}) runs {finding['package']} "
                f"{finding['version']}, older than the newest live {finding['newest_live']}: finish the rollout "
                f"(upgrade or restart it)")
    return (f"{finding['package']} has migrations pending (database {', '.join(finding['database']) or 'none'}, "
            f"head {', '.join(finding['head'])}): run `acmectl migrate` from a {finding['package']} environment")


def platform_report() -> dict:
    status = collect_status(_database_url())
    skew = [{**f, "action": action_for(f)} for f in status["skew"]]
    return {"server": status["server"], "instances": status["instances"], "skew": skew,
            "installed": status["installed"]}


def schemas_report() -> dict:
    status = collect_status(_database_url())
    schemas = []
    for schema, info in status["database"].items():
        schemas.append({
            "schema": schema,
            "required_minimum": info["required_minimum"],
            "revisions": [{
                "revision": r["revision"], "phase": r["phase"], "applied_by": f"{r['applied_by_package']} "
                f"{r['applied_by_version']}", "min_compatible_version": r["min_compatible_version"],
                "forced": r["forced"], "applied_at": r["applied_at"].isoformat() if r["applied_at"] else None,
            } for r in info["ledger"]],
        })
    return {"schemas": schemas, "installed": status["installed"]}


def dependencies_report() -> dict:
    status = collect_status(_database_url())
    return dependencies.report(status["instances"])


def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def events_report() -> dict:
    conn = current_uow().connection
    groups = [{"group": lag.group, "domain": lag.domain, "events_behind": lag.events,
               "seconds_behind": round(lag.seconds, 1), "open_dead_letters": lag.dead_letters}
              for lag in all_groups_lag(conn)]
    letters = [_jsonable(r) for r in list_dead_letters(conn, include_closed=True)]
    letters.sort(key=lambda r: (r["status"] not in ("dead", "replay"), -r["id"]))
    return {"groups": groups, "dead_letters": letters[:200], "audit": audit_report("events.")}


def audit_report(prefix: str | None = None, limit: int = 50) -> list[dict]:
    return [e.as_json() for e in audit.recent(current_uow().connection, limit=limit, action_prefix=prefix)]


def roles_report() -> dict:
    drift = roles_drift(_database_url())
    conn = current_uow().connection
    # Declared: what `acmectl roles apply` recorded on each service's login role (its ServiceAccess and
    # the domains installed with it). Actual: the groups that role is a member of right now.
    rows = conn.execute(sa.text(
        "SELECT r.rolname, shobj_description(r.oid, 'pg_authid') AS comment, "
        "COALESCE(array_agg(g.rolname ORDER BY g.rolname) FILTER (WHERE g.rolname IS NOT NULL), '{}') AS groups "
        "FROM pg_roles r LEFT JOIN pg_auth_members m ON m.member = r.oid LEFT JOIN pg_roles g ON g.oid = m.roleid "
        "WHERE r.rolname LIKE :pattern GROUP BY r.oid, r.rolname ORDER BY r.rolname"),
        {"pattern": f"{_role_prefix(conn)}\\_svc\\_%"}).all()
    services = []
    for row in rows:
        declared = parse_comment(row.comment) or {}
        services.append({
            "role": row.rolname, "service": declared.get("service"),
            "declared_schemas": declared.get("schemas", {}), "declared_capabilities": declared.get("capabilities", []),
            "connection_limit": declared.get("connection_limit"), "member_of": list(row.groups),
        })
    return {"managed": drift["managed"], "drift": drift["drift"], "services": services}


def _role_prefix(conn) -> str:
    return RoleNames.for_database(conn.execute(sa.text("SELECT current_database()")).scalar_one()).prefix
