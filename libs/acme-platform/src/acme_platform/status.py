"""What runs against this database: domains × live instances × library versions × revisions, and skew.

Shared by `acmectl status` (text/JSON) and the backoffice's /status page (HTML).
"""
from __future__ import annotations

import html
from collections import defaultdict
from datetime import datetime, timezone

import sqlalchemy as sa
from packaging.version import InvalidVersion, Version

from .config import to_sqlalchemy_url
from .domains import installed_domains
from .migrations.runner import alembic_config, db_heads, pending_revisions, script_heads
from .migrations.skew import LEDGER, blockers, policy_of, required_minimum
from .instances import live_instances, stale_instances


def _v(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def collect_status(database_url: str) -> dict:
    from alembic.script import ScriptDirectory

    specs = installed_domains()
    engine = sa.create_engine(to_sqlalchemy_url(database_url), poolclass=sa.pool.NullPool,
                               # may be a transaction pooler's URL: no server-side prepared statements
                               connect_args={"prepare_threshold": None})
    try:
        with engine.connect() as conn:
            server_version = conn.exec_driver_sql("SHOW server_version").scalar()
            instances = live_instances(conn)
            stale = stale_instances(conn)
            installed, database, skew = [], {}, []
            for spec in specs:
                heads = db_heads(conn, spec)
                installed.append({
                    "domain": spec.name, "package": spec.package, "version": spec.version, "schema": spec.schema,
                    "head": list(script_heads(spec)), "database": list(heads),
                    "up_to_date": not pending_revisions(conn, [spec]),
                })
            schemas = [r[0] for r in conn.exec_driver_sql(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = %(t)s ORDER BY 1",
                {"t": LEDGER}).all()]
            for schema in schemas:
                ledger = [dict(r._mapping) for r in conn.exec_driver_sql(
                    f'SELECT revision, phase, applied_by_package, applied_by_version, min_compatible_version, forced, '
                    f'applied_at FROM "{schema}".{LEDGER} ORDER BY applied_at, revision').all()]
                required = required_minimum(conn, schema)
                database[schema] = {"ledger": ledger, "required_minimum": required[0] if required else None}

            # Who is behind: for each library, live instances older than the newest live version of it.
            by_package: dict[str, list] = defaultdict(list)
            for inst in instances:
                for package, version in inst.packages.items():
                    by_package[package].append((inst, version))
            for package, running in sorted(by_package.items()):
                newest = max((v for _, v in running), key=_v)
                for inst, version in running:
                    if _v(version) < _v(newest):
                        skew.append({"kind": "behind", "package": package, "service": inst.service, "host": inst.host,
                                     "pid": inst.pid, "version": version, "newest_live": newest})
            # What blocks the next contract revision this environment knows about.
            for spec in specs:
                current = db_heads(conn, spec)
                script = ScriptDirectory.from_config(alembic_config(spec))
                try:
                    lower = current[0] if len(current) == 1 else (current or "base")
                    pending = list(reversed(list(script.iterate_revisions("heads", lower))))
                except Exception:  # noqa: BLE001 - alembic raises several types for an unknown revision
                    continue  # the database is ahead of this environment's package
                for sc in pending:
                    policy = policy_of(sc)
                    if policy.phase != "contract":
                        continue
                    for inst in blockers(conn, spec, policy, instances):
                        skew.append({"kind": "blocks_contract", "package": spec.package, "revision": policy.revision,
                                     "min_compatible_version": policy.min_compatible_version, "service": inst.service,
                                     "host": inst.host, "pid": inst.pid, "version": inst.packages[spec.package]})
                    break
                if current != tuple(sorted(script.get_heads())) and pending:
                    skew.append({"kind": "migration_pending", "package": spec.package, "domain": spec.name,
                                 "database": list(current), "head": list(script_heads(spec))})
    finally:
        engine.dispose()
    now = datetime.now(timezone.utc)
    return {
        "server": f"PostgreSQL {server_version}",
        "roles": roles_drift(database_url),
        "installed": installed,
        "database": database,
        "instances": [{
            "service": i.service, "service_version": i.service_version, "host": i.host, "pid": i.pid,
            "instance_id": i.instance_id, "started_at": i.started_at.isoformat(),
            "heartbeat_age_s": round((now - i.heartbeat_at).total_seconds(), 1),
            "packages": i.packages, "heads": i.heads, "git_sha": i.git_sha,
        } for i in instances],
        # Registered but past their heartbeat window: died without deregistering (newest first, at most 20).
        "stale_instances": [{
            "service": i.service, "service_version": i.service_version, "host": i.host, "pid": i.pid,
            "instance_id": i.instance_id, "heartbeat_age_s": round((now - i.heartbeat_at).total_seconds(), 1),
            "state": "stale",
        } for i in stale],
        "skew": skew,
    }


def roles_drift(database_url: str) -> dict:
    """Whether the database's roles and privileges match what the installed domains and services declare
    (acmectl roles plan's steps, if any). Reading the catalogs needs no privilege."""
    from .roles import apply as roles_apply

    with roles_apply.connect(database_url) as conn:
        names = roles_apply.names_for(conn)
        managed = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (names.migrator,)).fetchone() is not None
        if not managed:
            return {"managed": False, "drift": []}
        return {"managed": True, "drift": [str(step) for step in roles_apply.plan(conn)]}


def _describe(finding: dict) -> str:
    if finding["kind"] == "behind":
        return (f"{finding['service']} on {finding['host']} (pid {finding['pid']}) runs {finding['package']} "
                f"{finding['version']}; newest live is {finding['newest_live']}")
    if finding["kind"] == "blocks_contract":
        return (f"{finding['service']} on {finding['host']} (pid {finding['pid']}) runs {finding['package']} "
                f"{finding['version']} and blocks contract revision {finding['revision']} "
                f"(needs >= {finding['min_compatible_version']})")
    return (f"{finding['package']}: migration pending (database {','.join(finding['database']) or 'none'}, "
            f"head {','.join(finding['head'])})")


def render_text(report: dict) -> str:
    lines = [f"DATABASE SERVER  {report['server']}", "", "DOMAINS (this environment)",
             f"  {'DOMAIN':<10} {'PACKAGE':<16} {'VERSION':<9} {'HEAD':<14} {'DATABASE':<14} STATE"]
    for r in report["installed"]:
        lines.append(f"  {r['domain']:<10} {r['package']:<16} {r['version']:<9} {','.join(r['head']) or '-':<14} "
                     f"{','.join(r['database']) or '-':<14} {'ok' if r['up_to_date'] else 'PENDING'}")
    lines += ["", "LIVE INSTANCES"]
    if not report["instances"]:
        lines.append("  none")
    for i in report["instances"]:
        libs = " ".join(f"{p}={v}" for p, v in sorted(i["packages"].items()))
        lines.append(f"  {i['service']:<12} {i['host']}:{i['pid']:<7} beat {i['heartbeat_age_s']}s ago  {libs}")
    if report.get("stale_instances"):
        lines += ["", "STALE INSTANCES (no heartbeat within their window: died without deregistering)"]
        lines += [f"  {i['service']:<12} {i['host']}:{i['pid']:<7} stale, last beat {i['heartbeat_age_s']}s ago"
                  for i in report["stale_instances"]]
    lines += ["", "SCHEMA LEDGER (required minimum library version)"]
    for schema, info in report["database"].items():
        last = info["ledger"][-1] if info["ledger"] else None
        lines.append(f"  {schema:<14} {len(info['ledger'])} revision(s), last {last['revision'] if last else '-'} "
                     f"({last['phase'] if last else '-'}), requires >= {info['required_minimum'] or 'any'}")
    lines += ["", "SKEW"]
    lines += [f"  ! {_describe(f)}" for f in report["skew"]] or ["  none"]
    roles = report.get("roles") or {}
    lines += ["", "ROLES (declared vs the database)"]
    if not roles.get("managed"):
        lines.append("  not managed here: run `acmectl roles apply` as the cluster administrator")
    elif not roles["drift"]:
        lines.append("  in sync with the declarations")
    else:
        lines.append(f"  ! DRIFT: {len(roles['drift'])} step(s) would fix it (acmectl roles apply):")
        lines += [f"    {step}" for step in roles["drift"]]
    return "\n".join(lines)


def render_html(report: dict) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(i['service'])}</td><td>{e(i['host'])}:{i['pid']}</td><td>{i['heartbeat_age_s']}s</td>"
        f"<td>{e(', '.join(f'{p} {v}' for p, v in sorted(i['packages'].items())))}</td></tr>"
        for i in report["instances"]) or "<tr><td colspan=4>no live instances</td></tr>"
    stale = "".join(
        f"<tr><td>{e(i['service'])}</td><td>{e(i['host'])}:{i['pid']}</td><td>stale, {i['heartbeat_age_s']}s</td></tr>"
        for i in report.get("stale_instances", []))
    stale_table = (f"<h2>Stale instances</h2><table><tr><th>service</th><th>host:pid</th><th>last heartbeat</th></tr>"
                   f"{stale}</table>") if stale else ""
    schemas = "".join(
        f"<tr><td>{e(s)}</td><td>{e(info['ledger'][-1]['revision']) if info['ledger'] else '-'}</td>"
        f"<td>{len(info['ledger'])}</td><td>{e(info['required_minimum'] or 'any')}</td></tr>"
        for s, info in report["database"].items())
    skew = "".join(f"<li>{e(_describe(f))}</li>" for f in report["skew"]) or "<li>none</li>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Acme platform status</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}.skew li{{color:#a00}}</style></head><body>
<h1>Platform status</h1>
<h2>Live instances</h2><table><tr><th>service</th><th>host:pid</th><th>heartbeat</th><th>libraries</th></tr>{rows}</table>
{stale_table}
<h2>Schemas</h2><table><tr><th>schema</th><th>last revision</th><th>revisions</th><th>requires library &ge;</th></tr>{schemas}</table>
<h2>Skew</h2><ul class="skew">{skew}</ul></body></html>"""
