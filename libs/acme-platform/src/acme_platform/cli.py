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
def migrate(domains: tuple[str, ...], wait_timeout: float) -> None:
    from .domains import DomainRegistryError
    from .migrations.runner import MigrationError, MigrationRunner

    settings = _settings()
    try:
        runner = MigrationRunner(settings.database_url, domains=list(domains) or None,
                                 wait_timeout=wait_timeout, progress=click.echo)
        results = runner.run()
    except (MigrationError, DomainRegistryError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    except Exception as exc:  # connection refused, bad credentials ...
        raise click.ClickException(f"migration failed: {str(exc).splitlines()[0]}") from None
    applied = sum(len(r.applied) for r in results)
    click.echo(f"migrated: {applied} revision(s) applied across {len(results)} domain(s)")


@main.command(help="Installed domains, their package versions and the database revision of each.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    from .migrations.runner import domain_status

    settings = _settings()
    try:
        rows = domain_status(settings.database_url)
    except Exception as exc:
        raise click.ClickException(f"cannot read status: {str(exc).splitlines()[0]}") from None
    if as_json:
        click.echo(json.dumps({"domains": rows}, indent=2))
    else:
        click.echo(f"{'DOMAIN':<10} {'PACKAGE':<16} {'VERSION':<9} {'HEAD':<14} {'DATABASE':<14} STATE")
        for r in rows:
            click.echo(f"{r['domain']:<10} {r['package']:<16} {r['version']:<9} {','.join(r['head']) or '-':<14} "
                       f"{','.join(r['database']) or '-':<14} {'ok' if r['up_to_date'] else 'PENDING'}")
    if not all(r["up_to_date"] for r in rows):
        sys.exit(3)


def _load_domain_commands() -> None:
    # Domains contribute their own commands (identity adds `create-staff`) without the platform
    # depending on them.
    for ep in metadata.entry_points(group=CLI_ENTRY_POINT_GROUP):
        command = ep.load()
        if isinstance(command, click.Command):
            main.add_command(command, ep.name)


_load_domain_commands()
