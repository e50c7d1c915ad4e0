"""`acmectl create-staff` through click's CliRunner against the migrated test database."""
import uuid

import pytest
from click.testing import CliRunner

from acme_identity import get_account, issue_token
from acme_identity.cli import create_staff

PASSWORD = "staff password 123"


@pytest.fixture
def run(migrated_database_url):
    def invoke(args, stdin, command=create_staff, env=None):
        return CliRunner().invoke(command, args, input=stdin,
                                  env={"DATABASE_URL": migrated_database_url, **(env or {})})
    return invoke


def test_create_staff_reads_the_password_from_stdin(run, database, new_email):
    email = new_email("ops")
    result = run(["--email", email, "--name", "Ops Person"], f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    account_id = result.output.strip()
    assert uuid.UUID(account_id)
    assert PASSWORD not in result.output
    with database.unit_of_work() as uow:
        account = get_account(uow, account_id)
        assert (account.email, account.name, account.kind) == (email, "Ops Person", "staff")
        # The password from stdin is the one that was stored (without its newline).
        assert issue_token(uow, email=email, password=PASSWORD, kind="staff").scopes == frozenset({"staff"})


def test_acmectl_has_the_command(run, new_email):
    from acme_platform.cli import main

    assert "create-staff" in main.commands
    result = run(["create-staff", "--email", new_email("acmectl"), "--name", "Via Acmectl"], f"{PASSWORD}\r\n",
                 command=main)
    assert result.exit_code == 0, result.output
    assert uuid.UUID(result.output.strip())


def test_there_is_no_password_option():
    assert {p.name for p in create_staff.params} == {"email", "name"}
    result = CliRunner().invoke(create_staff, ["--email", "a@b.co", "--name", "n", "--password", PASSWORD])
    assert result.exit_code == 2 and "No such option" in result.output


@pytest.mark.parametrize("args, stdin, message", [
    (["--name", "Weak"], "short\n", "at least 10 characters"),
    (["--name", "No Password"], "", "no password on stdin"),
    (["--name", "   "], f"{PASSWORD}\n", "name must be"),
])
def test_errors_are_one_line_and_non_zero(run, new_email, args, stdin, message):
    result = run(["--email", new_email("bad"), *args], stdin)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_duplicate_email_is_refused(run, new_email):
    email = new_email("twice")
    assert run(["--email", email, "--name", "One"], f"{PASSWORD}\n").exit_code == 0
    result = run(["--email", email.upper(), "--name", "Two"], f"{PASSWORD}\n")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: an account with this email already exists"


def test_invalid_email_is_refused(run):
    result = run(["--email", "not-an-email", "--name", "X"], f"{PASSWORD}\n")
    assert result.exit_code == 1 and "Error: email must look like" in result.output


def test_missing_database_url_is_one_line(new_email):
    result = CliRunner().invoke(create_staff, ["--email", new_email(), "--name", "N"], input=f"{PASSWORD}\n",
                                env={"DATABASE_URL": None})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert "DATABASE_URL" in result.output and PASSWORD not in result.output


def test_unmigrated_database_fails_with_one_line(make_database, new_email):
    result = CliRunner().invoke(create_staff, ["--email", new_email(), "--name", "N"], input=f"{PASSWORD}\n",
                                env={"DATABASE_URL": make_database()})
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot create staff account:")
    assert len(result.output.strip().splitlines()) == 1 and PASSWORD not in result.output


def _read_until(fd, marker: bytes | None, timeout: float = 20.0) -> bytes:
    """Read the terminal until `marker` appears (or, with None, until the child closes it)."""
    import os
    import select
    import time

    seen = b""
    deadline = time.monotonic() + timeout
    while marker is None or marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {marker!r}; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:      # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_interactive_prompt_on_a_terminal_hides_and_confirms(migrated_database_url, database, new_email):
    import os
    import subprocess
    import sys
    from pathlib import Path

    acmectl = Path(sys.executable).with_name("acmectl")
    email = new_email("tty")
    primary, secondary = os.openpty()
    env = {**os.environ, "DATABASE_URL": migrated_database_url}
    proc = subprocess.Popen([str(acmectl), "create-staff", "--email", email, "--name", "Tty Person"],
                            stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True)
    os.close(secondary)
    try:
        transcript = _read_until(primary, b"Password: ")
        os.write(primary, f"{PASSWORD}\n".encode())
        transcript += _read_until(primary, b"confirmation: ")
        os.write(primary, f"{PASSWORD}\n".encode())
        assert proc.wait(30) == 0
        transcript += _read_until(primary, None)      # the rest, up to the closed terminal
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
    text = transcript.decode(errors="replace")
    assert PASSWORD not in text                       # hidden input: never echoed
    account_id = text.strip().splitlines()[-1].strip()
    with database.unit_of_work() as uow:
        assert get_account(uow, account_id).email == email
