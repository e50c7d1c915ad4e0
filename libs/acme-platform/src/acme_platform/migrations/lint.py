"""Lint each revision's offline SQL with squawk (a well-kept Postgres migration linter).

Policy: an `expand` revision must pass every rule; a `contract` revision may trip only the rules that
are the point of a contract (drops and renames). Alembic's own bookkeeping table is not the
revision's SQL and is left out.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from ..domains import DomainSpec
from .runner import alembic_config
from .skew import policy_of

CONTRACT_ALLOWED_RULES = (
    "ban-drop-column",
    "ban-drop-table",
    "ban-drop-not-null",
    "renaming-column",
    "renaming-table",
)
_BOOKKEEPING = re.compile(r"CREATE TABLE [\w\".]*alembic_version \(.*?\);\s*", re.S)


class SquawkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class LintFinding:
    domain: str
    revision: str
    phase: str
    message: str


def revision_sql(spec: DomainSpec, revision: str, down_revision: str | None) -> str:
    cfg = alembic_config(spec)
    buffer = io.StringIO()
    cfg.output_buffer = buffer
    cfg.set_main_option("sqlalchemy.url", "postgresql+psycopg://lint@localhost/lint")
    command.upgrade(cfg, f"{down_revision}:{revision}" if down_revision else revision, sql=True)
    return _BOOKKEEPING.sub("", buffer.getvalue())


def squawk_binary() -> str:
    found = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    if not Path(found).exists():
        raise SquawkMissing("squawk is not installed: add squawk-cli to the test dependencies")
    return found


def lint_domain(spec: DomainSpec, *, pg_version: str = "15") -> list[LintFinding]:
    script = ScriptDirectory.from_config(alembic_config(spec))
    squawk = squawk_binary()
    findings: list[LintFinding] = []
    for sc in reversed(list(script.walk_revisions())):
        policy = policy_of(sc)
        down = sc.down_revision if isinstance(sc.down_revision, str) else None
        sql = revision_sql(spec, sc.revision, down)
        with tempfile.NamedTemporaryFile("w", suffix=f"_{sc.revision}.sql", delete=False) as f:
            f.write(sql)
        args = [squawk, "--reporter", "gcc", "--pg-version", pg_version, "--no-error-on-unmatched-pattern"]
        if policy.phase == "contract":
            args += ["--exclude", ",".join(CONTRACT_ALLOWED_RULES)]
        proc = subprocess.run(args + [f.name], capture_output=True, text=True)
        Path(f.name).unlink(missing_ok=True)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ": warning:" in ln or ": error:" in ln]
            for line in lines or [(proc.stdout + proc.stderr).strip()]:
                message = line.split(": ", 1)[1] if ": " in line else line
                findings.append(LintFinding(spec.name, sc.revision, policy.phase, message))
    return findings
