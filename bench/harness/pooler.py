"""POOLER=pgbouncer for the bench: L (the storefront and l-hops) with its request traffic through a PgBouncer
in transaction mode, configured by the stack's own deploy/acme_stack/pooler.py, exactly as
`make up POOLER=pgbouncer` runs it. H and F stay direct (they are the comparisons, not the subject)."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

from .stack import ROOT

sys.path.insert(0, str(ROOT / "deploy"))
from acme_stack import pooler  # stdlib-only

sys.path.remove(str(ROOT / "deploy"))


def wanted() -> bool:
    return os.environ.get("POOLER", "").strip().lower() == "pgbouncer"


class BenchPooler:
    def __init__(self, service_url: str, workdir: Path, port: int):
        server = urllib.parse.urlsplit(service_url)
        self.bouncer = pooler.Bouncer(pooler.Config(listen_port=port, server_host=server.hostname or "127.0.0.1",
                                                    server_port=server.port or 5432, workdir=workdir))
        self.bouncer.add_logins([pooler.login_of(service_url)])
        self.service_url = service_url
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        pooler.binary(install=True)
        self.proc = subprocess.Popen(self.bouncer.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.bouncer.wait_listening(self.proc)

    def env(self) -> dict[str, str]:
        c = self.bouncer.config
        return {"DATABASE_URL": pooler.pooled_url(self.service_url, c.listen_host, c.listen_port),
                "DATABASE_DIRECT_URL": self.service_url, "ACME_DB_POOLER_CONNECTIONS": str(c.default_pool_size)}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
