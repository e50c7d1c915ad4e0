"""Where things live and which ports they use; everything derives from the repo root.

Nothing absolute is baked in: the repo can be cloned anywhere and `.run/` follows it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PG_PORT = 5544
DEFAULT_INDEX_PORT = 8090
INDEX_USER = "deploy"  # the read-only login; publish logins are named after their team
PG_SUPERUSER = "acme_admin"
PG_DATABASE = "acme"
BIND_HOST = "127.0.0.1"


def repo_root() -> Path:
    # deploy/acme_stack/config.py -> repo root is two levels above deploy/.
    return Path(__file__).resolve().parents[2]


def env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        from .ui import StackError

        raise StackError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        from .ui import StackError

        raise StackError(f"{name}={raw!r} is not a port number")
    return port


@dataclass(frozen=True)
class Layout:
    """The state directory of one stack: `.run/` for `make up`, a temp dir for `make test`."""

    root: Path  # the repo (sources: libs/, services/, deploy/)
    run: Path  # state: postgres data, index packages, venvs, logs, pids
    tools: Path  # the tools venv (shared between `make up` and `make test`)

    @classmethod
    def for_repo(cls, root: Path | None = None) -> "Layout":
        root = root or repo_root()
        return cls(root=root, run=root / ".run", tools=tools_dir(root))

    @property
    def postgres(self) -> Path:
        return self.run / "postgres"

    @property
    def index(self) -> Path:
        return self.run / "index"

    @property
    def venvs(self) -> Path:
        return self.run / "venvs"

    @property
    def logs(self) -> Path:
        return self.run / "logs"

    @property
    def pids(self) -> Path:
        return self.run / "pids"

    @property
    def state(self) -> Path:
        return self.run / "state"

    def log(self, name: str) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f"{name}.log"

    @property
    def tools_bin(self) -> Path:
        return self.tools / "bin"


def tools_dir(root: Path) -> Path:
    # ACME_TOOLS_VENV lets a throwaway clone (deploy/tests/test_stack.py) reuse an existing tools venv
    # instead of spending ~25 s reinstalling the same pinned tools.
    override = os.environ.get("ACME_TOOLS_VENV", "").strip()
    return Path(override).resolve() if override else root / ".run" / "tools"
