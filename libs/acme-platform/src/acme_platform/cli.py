"""`acmectl`: operate the platform from a service's environment (its venv decides which domains exist)."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from importlib import metadata

import click

from .config import load_settings
from .errors import ConfigError

CLI_ENTRY_POINT_GROUP = "acme.cli"


def _settings():
    try:
        return load_settings(service_name="acmectl")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(help="Operate Acme domains against the database named by DATABASE_URL.")
@click.version_option(metadata.version("acme-platform"), prog_name="acmectl")
def main() -> None:
    pass


@main.command(help="Apply pending migrations of all installed domains (or one), in dependency order.")
@click.option("--domain", "domains", multiple=True, help="Only this domain (and what it depends on).")
@click.option("--wait-timeout", default=600.0, show_default=True, help="Seconds to wait for another runner.")
@click.option("--force", is_flag=True,
              help="Apply a contract revision although live instances run older versions (asks you to type the "
                   "revision id; recorded in the ledger).")
def migrate(domains: tuple[str, ...], wait_timeout: float, force: bool) -> None:
    from .domains import DomainRegistryError
    from .migrations.runner import MigrationBlocked, MigrationError, MigrationRunner

    settings = _settings()
    forced: set[str] = set()
    while True:
        try:
            # Direct: the runner holds a session advisory lock, which a transaction pooler would leak.
            runner = MigrationRunner(settings.direct_url, domains=list(domains) or None, wait_timeout=wait_timeout,
                                     force_revisions=forced, progress=click.echo)
            results = runner.run()
            break
        except MigrationBlocked as exc:
            if not force:
                raise click.ClickException(str(exc)) from None
            click.echo(str(exc), err=True)
            typed = click.prompt(f"Type the revision id ({exc.revision}) to apply it anyway", default="",
                                 show_default=False, err=True)
            if typed.strip() != exc.revision:
                raise click.ClickException("confirmation did not match; nothing applied") from None
            forced.add(exc.revision)
        except (MigrationError, DomainRegistryError) as exc:
            raise click.ClickException(str(exc).splitlines()[0]) from None
        except Exception as exc:  # noqa: BLE001 - connection refused, bad credentials ...
            raise click.ClickException(f"migration failed: {str(exc).splitlines()[0]}") from None
    applied = sum(len(r.applied) for r in results)
    click.echo(f"migrated: {applied} revision(s) applied across {len(results)} domain(s)")


@main.command(help="Domains, live service instances, library versions and database revisions; flags version skew.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    from .status import collect_status, render_text

    settings = _settings()
    try:
        report = collect_status(settings.direct_url)
    except Exception as exc:  # noqa: BLE001 - a CLI answers any failure with one line
        raise click.ClickException(f"cannot read status: {str(exc).splitlines()[0]}") from None
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render_text(report))
    if not all(d["up_to_date"] for d in report["installed"]):
        sys.exit(3)


@main.command(help="Connection budget: this service's connections against its role's limit, and the service roles' "
                   "limits against max_connections minus a reserve. Exits 1 on an oversubscription.")
@click.option("--service", default=None, help="The service (default: ACME_SERVICE_NAME).")
def budget(service: str | None) -> None:
    import sqlalchemy as sa

    from . import budget as connection_budget
    from .config import to_sqlalchemy_url

    settings = _settings()
    name = service or settings.service_name
    try:
        limit = connection_budget.declared_limit(name)
        demand = (connection_budget.service_demand(replace(settings, service_name=name), limit)
                  if limit is not None else None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    engine = sa.create_engine(to_sqlalchemy_url(settings.direct_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            cluster = connection_budget.cluster_budget(conn)
    except Exception as exc:  # noqa: BLE001 - a CLI answers any failure with one line
        raise click.ClickException(f"cannot read the server's budget: {str(exc).strip().splitlines()[0]}") from None
    finally:
        engine.dispose()
    click.echo(demand.describe() if demand is not None else f"{name}: no declaration installed here (access.py)")
    click.echo(cluster.describe())
    problem = connection_budget.refusal(demand, cluster)
    if problem:
        raise click.ClickException(problem)


@main.command("lint-migrations",
              help="Lint every revision's offline SQL with squawk: expand must be clean; contract may only drop/rename.")
@click.option("--domain", "domains", multiple=True, help="Only these domains (default: all installed).")
def lint_migrations(domains: tuple[str, ...]) -> None:
    from .domains import installed_domains
    from .migrations.lint import SquawkMissing, lint_domain

    specs = [s for s in installed_domains(list(domains) or None) if not domains or s.name in domains]
    try:
        findings = [f for spec in specs for f in lint_domain(spec)]
    except SquawkMissing as exc:
        raise click.ClickException(str(exc)) from None
    for f in findings:
        click.echo(f"{f.domain} {f.revision} ({f.phase}): {f.message}")
    if findings:
        raise click.ClickException(f"{len(findings)} migration lint finding(s)")
    click.echo(f"migration lint: {len(specs)} domain(s) clean")


@main.group(help="Database roles derived from what the installed domains and services declare.")
def roles() -> None:
    pass


def _roles_url(admin_required: bool) -> str:
    import os

    url = os.environ.get("ACME_ADMIN_DATABASE_URL", "").strip()
    if url:
        return url
    if admin_required:
        raise click.ClickException("ACME_ADMIN_DATABASE_URL is not set: roles apply needs a login that may create "
                                   "roles (the cluster administrator's)")
    return _settings().database_url


@roles.command("plan", help="Print the SQL that would bring the database to the declared roles and privileges.")
def roles_plan() -> None:
    from .roles import DeclarationError
    from .roles import apply as roles_apply

    try:
        with roles_apply.connect(_roles_url(admin_required=False)) as conn:
            steps = roles_apply.plan(conn)
    except DeclarationError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a CLI answers any failure with one line
        raise click.ClickException(f"cannot plan roles: {str(exc).strip().splitlines()[0]}") from None
    if not steps:
        click.echo("roles: nothing to do")
        return
    for step in steps:
        click.echo(str(step))
    click.echo(f"roles: {len(steps)} step(s) to apply (acmectl roles apply)")


@roles.command("apply", help="Create or correct roles and privileges (idempotent; one transaction).")
@click.option("--secrets", "secrets_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the login secrets (one file per login, mode 600: ACME_DB_ROLE, ACME_DB_PASSWORD, "
                   "DATABASE_URL). Existing passwords are kept; missing ones are generated.")
def roles_apply_cmd(secrets_dir: str | None) -> None:
    from pathlib import Path

    from .roles import DeclarationError
    from .roles import apply as roles_apply

    url = _roles_url(admin_required=True)
    try:
        with roles_apply.connect(url) as conn:
            done = roles_apply.apply(conn, secrets_dir=Path(secrets_dir) if secrets_dir else None, admin_url=url)
    except DeclarationError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a CLI answers any failure with one line
        raise click.ClickException(f"roles apply failed, nothing changed: {str(exc).strip().splitlines()[0]}") from None
    for step in done.steps:
        click.echo(str(step))
    for logical, path in done.secrets.items():
        click.echo(f"login for {logical}: {path}")
    click.echo(f"roles: {len(done.steps)} step(s) applied")


@main.group("events", invoke_without_command=True,
            help="Consumer groups with their lag, and dead letters: list, show, replay, discard.")
@click.pass_context
def events(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from .events.dead_letters import list_dead_letters
    from .events.lag import all_groups_lag

    def overview(conn):
        return all_groups_lag(conn), list_dead_letters(conn)

    lags, letters = _events_db(overview)
    click.echo("consumer groups:" if lags else "consumer groups: none")
    for lag in lags:
        click.echo(f"  {lag.group:<20} {lag.domain:<12} {lag.events:>7} event(s) behind  {lag.seconds:>8.1f} s  "
                   f"{lag.dead_letters} open dead letter(s)")
    _echo_dead_letters(letters)


def _events_db(work, *, write: bool = False):
    """Run `work(connection)` against DATABASE_URL (one transaction); errors become one line."""
    from .config import to_sqlalchemy_url
    from .events.dead_letters import DeadLetterError

    import sqlalchemy as sa

    settings = _settings()
    engine = sa.create_engine(to_sqlalchemy_url(settings.database_url), poolclass=sa.pool.NullPool,
                               # may be a transaction pooler's URL: no server-side prepared statements
                               connect_args={"prepare_threshold": None})
    try:
        with (engine.begin() if write else engine.connect()) as conn:
            return work(conn)
    except DeadLetterError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a CLI answers any failure with one line
        raise click.ClickException(f"cannot read events: {str(exc).strip().splitlines()[0]}") from None
    finally:
        engine.dispose()


def _parsed(parse, raw: str):
    """Bad input is refused before anything connects, in one line."""
    from .events.dead_letters import DeadLetterError

    try:
        return parse(raw)
    except DeadLetterError as exc:
        raise click.ClickException(str(exc)) from None


def _echo_dead_letters(letters: list[dict]) -> None:
    click.echo(f"dead letters: {len(letters)}" + ("" if letters else " (none open)"))
    for d in letters:
        click.echo(f"  #{d['id']:<6} {d['status']:<9} {d['consumer_group']:<16} {d['domain']}:{d['event_id']:<8} "
                   f"{d['topic']:<28} key={d['key']} attempts={d['attempts']}  {d['error']}")


@events.command("list", help="Open dead letters (dead or waiting for replay); --all includes replayed and discarded.")
@click.option("--group", default=None, help="Only this consumer group.")
@click.option("--all", "include_closed", is_flag=True, help="Also replayed and discarded ones.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def events_list(group: str | None, include_closed: bool, as_json: bool) -> None:
    from .events.dead_letters import list_dead_letters

    letters = _events_db(lambda conn: list_dead_letters(conn, group=group, include_closed=include_closed))
    if as_json:
        click.echo(json.dumps(letters, indent=2, default=str))
    else:
        _echo_dead_letters(letters)


@events.command("show", help="One dead letter with its payload and error.")
@click.argument("dead_letter_id")
def events_show(dead_letter_id: str) -> None:
    from .events.dead_letters import get_dead_letter, parse_id

    wanted = _parsed(parse_id, dead_letter_id)
    letter = _events_db(lambda conn: get_dead_letter(conn, wanted))
    click.echo(json.dumps(letter, indent=2, default=str))


@events.command("replay", help="Hand a dead letter to its consumer group again (optionally with a corrected payload).")
@click.argument("dead_letter_id")
@click.option("--payload", default=None, help="Replace the event's payload with this JSON object first.")
def events_replay(dead_letter_id: str, payload: str | None) -> None:
    from .events.dead_letters import parse_id, parse_payload, request_replay

    wanted = _parsed(parse_id, dead_letter_id)
    corrected = None if payload is None else _parsed(parse_payload, payload)
    letter = _events_db(lambda conn: request_replay(conn, wanted, corrected), write=True)
    click.echo(f"dead letter {letter['id']}: replay requested; consumer group {letter['consumer_group']} "
               f"takes it on its next run (status becomes replayed, or dead with the new error)")


@events.command("discard", help="Give up on a dead letter for good (kept, marked discarded).")
@click.argument("dead_letter_id")
def events_discard(dead_letter_id: str) -> None:
    from .events.dead_letters import discard, parse_id

    wanted = _parsed(parse_id, dead_letter_id)
    letter = _events_db(lambda conn: discard(conn, wanted), write=True)
    click.echo(f"dead letter {letter['id']}: discarded")


def _load_domain_commands() -> None:
    # Domains contribute their own commands (identity adds `create-staff`) without the platform
    # depending on them.
    for ep in metadata.entry_points(group=CLI_ENTRY_POINT_GROUP):
        command = ep.load()
        if isinstance(command, click.Command):
            main.add_command(command, ep.name)


_load_domain_commands()
