"""Who may upload what to the private index, against `make test`'s real throwaway index.

Each team's publish login uploads only the libraries that team owns (declared once, in each library's
`[tool.acme.library] owner`); the read-only deploy login (what services, Docker builds and installs
use) never uploads; nobody removes or replaces a published file. After every refusal the index's own
listing is read back to show nothing was stored. Uploads use small hand-made wheels: the index
decides on names and logins, never on content, and these files are never installed.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest


def _need(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `make test`", pytrace=False)
    return value


def _login(path: Path) -> tuple[str, str]:
    creds = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return creds["ACME_INDEX_USER"], creds["ACME_INDEX_PASSWORD"]


@pytest.fixture(scope="module")
def index():
    parts = urllib.parse.urlsplit(_need("ACME_TEST_INDEX_URL"))
    return {
        "base": f"{parts.scheme}://{parts.hostname}:{parts.port}",
        "upload": _need("ACME_TEST_INDEX_UPLOAD_URL"),
        "deploy": (_need("ACME_TEST_INDEX_USER"), _need("ACME_TEST_INDEX_PASSWORD")),
        "teams": Path(_need("ACME_TEST_INDEX_TEAMS")),
    }


def team(index, name: str) -> tuple[str, str]:
    return _login(index["teams"] / name)


def wheel(folder: Path, project: str, version: str) -> Path:
    dist = project.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        info = f"{dist}-{version}.dist-info"
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


def post(index, auth: tuple[str, str] | None, fields: dict[str, str], file: Path | None = None,
         filename: str | None = None) -> tuple[int, str, dict]:
    """A raw legacy-API POST (what twine sends): returns (status, reason, problem+json body)."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for key, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    if file is not None:
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
                   f'filename="{filename or file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
        body.write(file.read_bytes() + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    req = urllib.request.Request(index["upload"], data=body.getvalue(), method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.reason, {}
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            problem = json.loads(raw) if e.headers.get("Content-Type", "").startswith("application/problem+json") else {}
        except ValueError:
            problem = {}
        return e.code, e.reason, problem


def listing(index) -> set[str]:
    """Every file the index serves (its /packages/ listing, read with the deploy login)."""
    req = urllib.request.Request(index["base"] + "/packages/")
    user, password = index["deploy"]
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read().decode()
    return set(re.findall(r'<a href="[^"]*">([^<]+)</a>', body))


def upload(index, auth: tuple[str, str], file: Path) -> subprocess.CompletedProcess:
    """twine, the real client, with the login in its environment."""
    tools = Path(_need("ACME_TEST_TOOLS_BIN"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWINE_", "PIP_", "UV_"))}
    env.update({"TWINE_USERNAME": auth[0], "TWINE_PASSWORD": auth[1], "TWINE_NON_INTERACTIVE": "1",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "COLUMNS": "400"})
    res = subprocess.run([str(tools / "twine"), "upload", "--disable-progress-bar", "--repository-url",
                          index["upload"], str(file)], env=env, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    res.output = " ".join((res.stdout + res.stderr).split())
    return res


@pytest.fixture
def relmock(tmp_path) -> tuple[str, Path]:
    """A fresh name the index registers as team-relmock's (deploy/tests/index-owners.toml) and a wheel of it."""
    name = f"acme-relmock-{uuid.uuid4().hex[:8]}"
    return name, wheel(tmp_path, name, "1.0.0")


def test_another_teams_login_gets_403_naming_package_and_owner_and_nothing_is_stored(index, tmp_path):
    file = wheel(tmp_path, "acme-orders", f"0.0.1.dev{uuid.uuid4().int % 10**8}")
    res = upload(index, team(index, "team-catalog"), file)
    assert res.returncode != 0, res.output
    assert "403" in res.output and "acme-orders is owned by team-orders: team-catalog may not upload it" in res.output
    assert file.name not in listing(index)

    status, _, problem = post(index, team(index, "team-catalog"), {":action": "file_upload", "name": "acme-orders"},
                              file)
    assert status == 403
    assert problem["package"] == "acme-orders" and problem["owner"] == "team-orders"
    assert file.name not in listing(index)


def test_the_deploy_login_cannot_upload_anything(index, tmp_path, relmock):
    name, own = relmock
    files = [wheel(tmp_path, lib, "99.0.0") for lib in ("acme-platform", "acme-catalog", "acme-skewdemo")] + [own]
    for file in files:
        status, reason, problem = post(index, index["deploy"], {":action": "file_upload"}, file)
        assert status == 403, (file.name, status, reason)
        assert f"{index['deploy'][0]} may not upload it" in problem["detail"]
    assert "403" in upload(index, index["deploy"], own).output
    assert not {f.name for f in files} & listing(index)


def test_the_owning_team_uploads_and_then_can_neither_replace_nor_remove(index, tmp_path, relmock):
    name, file = relmock
    res = upload(index, team(index, "team-relmock"), file)
    assert res.returncode == 0, res.output
    assert file.name in listing(index)
    sha_before = _served_sha(index, name)

    other = tmp_path / "other"
    other.mkdir()
    changed = wheel(other, name, "1.0.0")
    with zipfile.ZipFile(changed, "a") as zf:
        zf.writestr("extra.txt", "different bytes under the same file name")
    status, _, problem = post(index, team(index, "team-relmock"), {":action": "file_upload"}, changed)
    assert status == 409 and "never replaced" in problem["detail"]
    status, _, problem = post(index, team(index, "team-relmock"),
                              {":action": "remove_pkg", "name": name, "version": "1.0.0"})
    assert status == 403 and "never removed" in problem["detail"]
    assert _served_sha(index, name) == sha_before


def test_the_name_field_cannot_launder_another_teams_file(index, tmp_path, relmock):
    """The form says the team's own package, the file is another team's: refused on the file."""
    name, _ = relmock
    theirs = wheel(tmp_path, "acme-catalog", "98.0.0")
    status, _, problem = post(index, team(index, "team-relmock"), {":action": "file_upload", "name": name}, theirs)
    assert status == 403 and problem["package"] == "acme-catalog" and problem["owner"] == "team-catalog"
    assert theirs.name not in listing(index)


def test_a_name_nobody_declared_cannot_be_uploaded_by_anyone(index, tmp_path):
    file = wheel(tmp_path, f"acme-undeclared-{uuid.uuid4().hex[:6]}", "1.0.0")
    for login in (team(index, "team-platform"), team(index, "team-relmock")):
        status, _, problem = post(index, login, {":action": "file_upload"}, file)
        assert status == 403 and "has no declared owner" in problem["detail"]
    assert file.name not in listing(index)


def test_a_wrong_password_or_none_is_401_before_any_ownership_answer(index, tmp_path, relmock):
    _, file = relmock
    assert post(index, ("team-relmock", "not-the-password"), {":action": "file_upload"}, file)[0] == 401
    assert post(index, None, {":action": "file_upload"}, file)[0] == 401
    assert file.name not in listing(index)


def _served_sha(index, project: str) -> str:
    req = urllib.request.Request(f"{index['base']}/simple/{project}/")
    user, password = index["deploy"]
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read().decode()
    return body.split("#sha256=", 1)[1][:64]
