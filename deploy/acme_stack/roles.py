"""Database roles for the stack: `acmectl roles apply` in each service's venv, then per-login URLs.

Each service venv knows its own domains and its own declaration (acme_platform.roles), so the stack
runs `acmectl roles apply` once per venv as the cluster administrator: shared roles (owners, readers,
writers, the migrator) converge, and each service's login role is created with a generated password.
The logins land in <run>/postgres/roles/<migrator|service> (mode 600); the administrator's URL travels
only in the environment of that one command. Services, migrations and the staff account then use
their own logins: nothing after this step connects as the superuser.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from . import proc
from .config import Layout
from .ui import StackError

MIGRATOR = "migrator"


def secrets_dir(layout: Layout) -> Path:
    return layout.postgres / "roles"


def apply(layout: Layout, targets: list[tuple[str, Path]], admin_url: str, wrap: Sequence[str] = ()) -> list[str]:
    """`wrap`: the command prefix that runs acmectl where the database is reachable (a drill's host)."""
    log = layout.log("roles")
    done = []
    for name, venv in targets:
        acmectl = venv / "bin" / "acmectl"
        env = proc.isolated_env({"ACME_ADMIN_DATABASE_URL": admin_url, "VIRTUAL_ENV": str(venv)})
        proc.run([*wrap, acmectl, "roles", "apply", "--secrets", secrets_dir(layout)], log=log,
                 what=f"acmectl roles apply ({name})", env=env, timeout=300)
        # apply runs every time (it is idempotent and also repairs drift); its last line counts the steps.
        summary = [line for line in log.read_text().splitlines() if line.startswith("roles: ")][-1:]
        steps = summary[0].split()[1] if summary else "?"
        done.append(f"{name}: " + ("already up, nothing to do" if steps == "0" else f"{steps} role step(s) applied"))
    return done


def login_url(layout: Layout, logical: str) -> str:
    """DATABASE_URL of one login written by `acmectl roles apply` ("migrator" or a service name)."""
    path = secrets_dir(layout) / logical
    if not path.exists():
        raise StackError(f"no database login for {logical} in {path.parent} (acmectl roles apply did not write it)")
    for line in path.read_text().splitlines():
        if line.startswith("DATABASE_URL="):
            return line.split("=", 1)[1].strip()
    raise StackError(f"{path} has no DATABASE_URL line")
