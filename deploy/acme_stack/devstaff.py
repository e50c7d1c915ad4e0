"""A development staff account, so a newcomer can use the backoffice right after `make up`.

Created once with the real `acmectl create-staff` (password on stdin, never argv) and remembered in
.run/dev-staff (mode 600). Never done by `make test`: its suites create their own accounts.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from . import proc
from .config import Layout

EMAIL = "dev-staff@acme.example"


def credentials_file(layout: Layout) -> Path:
    return layout.run / "dev-staff"


def ensure(layout: Layout, venvs: list[tuple[str, Path]], database_url: str) -> str:
    creds = credentials_file(layout)
    if creds.exists():
        return "already up, nothing to do"
    venv = next((v for name, v in venvs if name == "backoffice"), None) or next((v for _, v in venvs), None)
    if venv is None:
        return "no service venv with acmectl yet, skipped"
    password = secrets.token_urlsafe(18)
    log = layout.log("dev-staff")
    env = proc.isolated_env({"DATABASE_URL": database_url, "VIRTUAL_ENV": str(venv)})
    done = proc.run([venv / "bin" / "acmectl", "create-staff", "--email", EMAIL, "--name", "Development Staff"],
                    log=log, what="acmectl create-staff", env=env, input_text=password + "\n", timeout=120,
                    check=False)
    if done.returncode != 0:
        # Most likely the account exists from an earlier run whose .run/dev-staff was deleted.
        return f"not created (see {log}); create one with acmectl create-staff"
    creds.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"STAFF_EMAIL={EMAIL}\nSTAFF_PASSWORD={password}\n")
    return f"created {EMAIL}; credentials in {creds.relative_to(layout.root)}"


def write_env_file(layout: Layout, database_url: str, admin_url: str) -> Path:
    """`.run/acme.env`: `. .run/acme.env` gives a shell what acmectl needs: DATABASE_URL (the migrator's
    login: migrate, status) and ACME_ADMIN_DATABASE_URL (the cluster administrator: roles apply)."""
    path = layout.run / "acme.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"export DATABASE_URL='{database_url}'\nexport ACME_ADMIN_DATABASE_URL='{admin_url}'\n")
    return path
