"""Which package index `release`, `bump` and `deps` talk to.

By default the one `make up` runs (.run/index, login from .run/index/credentials). Any other index
(the production one from a CI secret, the throwaway one of `make test`) comes from the environment:

  ACME_INDEX_URL          its simple URL (…/simple/); may carry `user:password@`
  ACME_INDEX_UPLOAD_URL   where twine uploads; default: ACME_INDEX_URL without the trailing simple/
  ACME_INDEX_USER         default: the user in ACME_INDEX_URL      } the read-only deploy login:
  ACME_INDEX_PASSWORD     default: the password in ACME_INDEX_URL  } every download and listing
  ACME_INDEX_PUBLISH_USER, ACME_INDEX_PUBLISH_PASSWORD   the owning team's publish login (CI secrets)
  ACME_INDEX_TEAMS        or: a folder of publish logins, one file per team (`make test` hands one)
With make up's index, the publish login is .run/index/teams/<owner of the library>.
"""
from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from . import config, index, proc
from .config import Layout
from .index import Index
from .ui import StackError, rel


@dataclass
class RemoteIndex(Index):
    """An index known by URL rather than by the port of the one we run; same `files()` logic."""

    simple: str = ""
    upload: str = ""
    publish: tuple[str, str] | None = None  # ACME_INDEX_PUBLISH_USER / _PASSWORD

    def publish_login(self, team: str) -> tuple[str, str]:
        if self.publish:
            return self.publish  # whose it is, the index decides: another team's login gets a 403
        if self.teams is None:
            raise StackError(f"no publish login: set ACME_INDEX_PUBLISH_USER and ACME_INDEX_PUBLISH_PASSWORD to "
                             f"{team or 'the owning team'}'s login (or ACME_INDEX_TEAMS to a folder of team logins)")
        return super().publish_login(team)

    @property
    def base_url(self) -> str:
        parts = urllib.parse.urlsplit(self.simple)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    @property
    def upload_url(self) -> str:
        return self.upload

    @property
    def simple_url(self) -> str:
        return self.simple

    def simple_url_with_auth(self) -> str:
        if not self.user:
            return self.simple
        parts = urllib.parse.urlsplit(self.simple)
        auth = f"{urllib.parse.quote(self.user, safe='')}:{urllib.parse.quote(self.password, safe='')}"
        netloc = f"{auth}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def from_env() -> RemoteIndex | None:
    url = os.environ.get("ACME_INDEX_URL", "").strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StackError("ACME_INDEX_URL must be the index's http(s) simple URL, e.g. https://host/simple/")
    user = os.environ.get("ACME_INDEX_USER", "").strip() or urllib.parse.unquote(parts.username or "")
    password = os.environ.get("ACME_INDEX_PASSWORD", "") or urllib.parse.unquote(parts.password or "")
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    simple = urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))
    upload = os.environ.get("ACME_INDEX_UPLOAD_URL", "").strip()
    if not upload:
        base = path[: -len("simple/")] if path.endswith("/simple/") else path
        upload = urllib.parse.urlunsplit((parts.scheme, netloc, base, "", ""))
    pub_user = os.environ.get("ACME_INDEX_PUBLISH_USER", "").strip()
    pub_password = os.environ.get("ACME_INDEX_PUBLISH_PASSWORD", "")
    if bool(pub_user) != bool(pub_password):
        raise StackError("set both ACME_INDEX_PUBLISH_USER and ACME_INDEX_PUBLISH_PASSWORD, or neither")
    teams = os.environ.get("ACME_INDEX_TEAMS", "").strip()
    return RemoteIndex(port=parts.port or 0, user=user, password=password, host=parts.hostname,
                       simple=simple, upload=upload, publish=(pub_user, pub_password) if pub_user else None,
                       teams=Path(teams) if teams else None)


def select(layout: Layout) -> Index:
    """The index from the environment, else the running `make up` index (never started here: a
    fresh one would hold neither the mirror nor the libraries a release depends on)."""
    idx: Index | None = from_env()
    if idx is None:
        port = config.env_port("ACME_INDEX_PORT", config.DEFAULT_INDEX_PORT)
        if not (layout.index / "credentials").is_file():
            raise StackError("the private index has never run here: run `make up` first "
                             "(or point ACME_INDEX_URL at another index)")
        idx = index.load(layout, port)
    status, _, _ = proc.http_get(idx.simple_url, auth=idx.auth if idx.user else None, timeout=15)
    if status == 200:
        return idx
    if isinstance(idx, RemoteIndex):
        what = "refused the login (check ACME_INDEX_USER / ACME_INDEX_PASSWORD)" if status in (401, 403) \
            else f"answered HTTP {status}" if status else "is not reachable"
        raise StackError(f"the index ACME_INDEX_URL={idx.simple_url} {what}")
    raise StackError(f"the private index is not running on {idx.simple_url}: run `make up` first "
                     f"(or point ACME_INDEX_URL at another index; login in {rel(layout.index / 'credentials', layout.root)})")


def describe(idx: Index) -> str:
    return idx.simple_url + ("" if isinstance(idx, RemoteIndex) else " (make up's index)")
