"""Upload rights in front of pypiserver: a team publishes only its own libraries; nothing is ever removed.

pypiserver knows one thing about a login: valid or not. Any valid login may upload any name and
remove any file. This WSGI middleware sits in front of it in the same process and decides every
POST before pypiserver sees it:

- `file_upload`: the login must be the team that owns EVERY file's project (from the file names, the
  way pypiserver itself will store them; the form's `name` field must agree). The owner comes from the
  registry written by owners.py from the libraries' own declarations. Not the owner -> 403 naming the
  package and its owner; the deploy login owns nothing, so it can never upload; a name no declaration
  names has no owner, so nobody may upload it.
- a file name the index already holds -> 409 for everyone, owner included: a published file is never
  replaced (pypiserver, run without --overwrite, refuses too, but answers twine a bare 400).
- any other action (`remove_pkg`, `doc_upload`, ...) -> 403 for everyone: published files are
  never removed.
- a missing or wrong password -> 401, before anything is said about ownership.

A refused request never reaches pypiserver, so nothing is stored. GET/HEAD (downloads, listings) and
POST /RPC2 (search) pass through to pypiserver, which requires a valid login for them.

Runs in the tools venv (index_server.py); stdlib only here, bottle's request parser is passed in.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import re

log = logging.getLogger("acme.index.policy")

READ_ONLY_POSTS = ("/RPC2",)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Registry:
    def __init__(self, data: dict):
        self.packages = {normalize(k): v for k, v in data.get("packages", {}).items()}
        self.patterns = {normalize(k): v for k, v in data.get("patterns", {}).items()}

    @classmethod
    def load(cls, path: str) -> "Registry":
        with open(path) as fh:
            return cls(json.load(fh))

    def owner(self, name: str) -> str:
        key = normalize(name)
        if key in self.packages:
            return self.packages[key]
        return next((team for pattern, team in self.patterns.items() if fnmatch.fnmatchcase(key, pattern)), "")


class UploadPolicy:
    """WSGI middleware. `request_class` parses the request (bottle's BaseRequest: it buffers the body in
    the environ, so pypiserver reads the same parsed form afterwards); `check_password(user, password)`
    is pypiserver's own htpasswd check; `project_of(filename)` is pypiserver's own file-name parser;
    `exists(filename)` asks pypiserver's storage whether that file is already published."""

    def __init__(self, app, registry: Registry, *, request_class, check_password, project_of, exists):
        self.app = app
        self.registry = registry
        self.request_class = request_class
        self.check_password = check_password
        self.project_of = project_of
        self.exists = exists

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST" or environ.get("PATH_INFO") in READ_ONLY_POSTS:
            return self.app(environ, start_response)
        request = self.request_class(environ)
        auth = request.auth
        if not auth or auth[1] is None or not self.check_password(*auth):
            return _answer(start_response, 401, "a valid index login is required", {},
                           [("WWW-Authenticate", 'Basic realm="pypi"')])
        user = auth[0]
        try:
            action = request.forms.get(":action", "")
            uploads = [upload for field in request.files.keys() for upload in request.files.getall(field)]
        except Exception as e:  # noqa: BLE001 - a malformed body must be a 400, not a 500 (and never reach pypiserver)
            return _answer(start_response, 400, f"cannot read the upload form: {type(e).__name__}", {})
        if action != "file_upload":
            return self._refuse(start_response, user, f"{action or 'this request'} is refused for every login: "
                                "published files are never removed or replaced", {"action": action})
        filenames = [upload.raw_filename for upload in uploads]
        projects = set()
        for filename in filenames:
            guessed = self.project_of(filename)
            if not guessed:
                return _answer(start_response, 400, f"bad file name {filename!r}", {})
            projects.add(normalize(guessed))
        declared = request.forms.get("name", "")
        if declared:
            projects.add(normalize(declared))  # must be the owner's too: no "name says mine, file says theirs"
        if not filenames:
            return _answer(start_response, 400, "no file to upload", {})
        for project in sorted(projects):
            owner = self.registry.owner(project)
            if owner != user:
                detail = (f"{project} is owned by {owner}: {user} may not upload it" if owner else
                          f"{project} has no declared owner ([tool.acme.library] owner): nobody may upload it")
                return self._refuse(start_response, user, detail, {"package": project, "owner": owner or None})
        for filename in filenames:
            if self.exists(filename):
                detail = f"{filename} is already published; published files are never replaced: bump the version"
                log.warning("refused for %s: %s", user, detail)
                return _answer(start_response, 409, detail, {"file": filename})
        log.info("upload of %s by %s allowed (owner)", ", ".join(filenames), user)
        return self.app(environ, start_response)

    def _refuse(self, start_response, user: str, detail: str, extra: dict):
        log.warning("refused for %s: %s", user, detail)
        return _answer(start_response, 403, detail, extra)


def _answer(start_response, status: int, detail: str, extra: dict, headers=()):
    # The reason phrase carries the detail too: twine prints the status line, not the body.
    reason = re.sub(r"[^\x20-\x7e]", "?", detail)[:300]
    body = json.dumps({"type": "about:blank", "title": {400: "Bad Request", 401: "Unauthorized", 409: "Conflict"}.get(status, "Forbidden"),
                       "status": status, "detail": detail, **extra}).encode()
    start_response(f"{status} {reason}", [("Content-Type", "application/problem+json"),
                                          ("Content-Length", str(len(body))), *headers])
    return [body]
