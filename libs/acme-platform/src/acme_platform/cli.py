"""`acmectl`: operate the platform from a service's environment (its venv decides which domains exist)."""
from __future__ import annotations

import json
import sys
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
            runner = MigrationRunner(settings.database_url, domains=list(domains) or None, wait_timeout=wait_timeout,
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
        except Exception as exc:  # connection refused, bad credentials ...
            raise click.ClickException(f"migration failed: {str(exc).splitlines()[0]}") from None
    applied = sum(len(r.applied) for r in results)
    click.echo(f"migrated: {applied} revision(s) applied across {len(results)} domain(s)")


@main.command(help="Domains, live service instances, library versions and database revisions; flags version skew.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    from .status import collect_status, render_text

    settings = _settings()
    try:
        report = collect_status(settings.database_url)
    except Exception as exc:
        raise click.ClickException(f"cannot read status: {str(exc).splitlines()[0]}") from None
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render_text(report))
    if not all(d["up_to_date"] for d in report["installed"]):
        sys.exit(3)


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
    except Exception as exc:
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
    except Exception as exc:
        raise click.ClickException(f"roles apply failed, nothing changed: {str(exc).strip().splitlines()[0]}") from None
    for step in done.steps:
        click.echo(str(step))
    for logical, path in done.secrets.items():
        click.echo(f"login for {logical}: {path}")
    click.echo(f"roles: {len(done.steps)} step(s) applied")


def _load_domain_commands() -> None:
    # Domains contribute their own commands (identity adds `create-staff`) without the platform
    # depending on them.
    for ep in metadata.entry_points(group=CLI_ENTRY_POINT_GROUP):
        command = ep.load()
        if isinstance(command, click.Command):
            main.add_command(command, ep.name)


_load_domain_commands()
