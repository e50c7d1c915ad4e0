"""`acmectl create-staff`: the first staff account (plugged into acmectl via the `acme.cli` entry point).

The password never comes from argv (it would sit in shell history and in `ps` output): it is read
from a hidden, confirmed prompt, or from the first line of stdin when stdin is not a terminal
(`printf '%s\\n' "$PW" | acmectl create-staff ...`).
"""
from __future__ import annotations

import sys

import click
from acme_platform import ConfigError, Database, DomainError, load_settings

from .service import register_staff


def _read_password() -> str:
    stdin = sys.stdin
    if stdin is None:
        raise click.ClickException("no password: stdin is closed")
    if stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = stdin.readline()
    if not line:
        raise click.ClickException("no password on stdin (expected one line)")
    return line.rstrip("\r\n")


@click.command("create-staff", help="Create a staff account. The password is prompted for, or read from stdin.")
@click.option("--email", required=True, help="Login email of the staff member.")
@click.option("--name", required=True, help="Display name.")
def create_staff(email: str, name: str) -> None:
    password = _read_password()
    try:
        settings = load_settings(service_name="acmectl")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    database = Database(settings)
    try:
        with database.unit_of_work() as uow:
            account = register_staff(uow, email=email, password=password, name=name)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    except Exception as exc:  # noqa: BLE001 - database unreachable, schema not migrated ...
        # First line only: SQLAlchemy appends the statement and its parameters on later lines.
        raise click.ClickException(f"cannot create staff account: {str(exc).splitlines()[0]}") from None
    finally:
        database.dispose()
    click.echo(account.id)
