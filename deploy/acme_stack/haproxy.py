"""HAProxy (the Debian package) as the load balancer in front of a service's instances (the multi-host drill).

A well-kept balancer rather than one of our own: active health checks on the service's `/readyz` every `inter`,
a server taken out after `fall` failed checks and back after `rise` good ones, and a request whose connection
to a dead server is refused retried on another one (`retries` + `option redispatch`). Its runtime API (a Unix
socket, so a caller outside the balancer's network namespace reaches it through the file system) says which
servers are UP: how a drill times the move from a dead host to a live one.

Installed with `apt-get install haproxy` (deploy/acme_stack/debian.py) when missing; the package's own
system-wide service (`/etc/haproxy/haproxy.cfg`, no listener by default) is not used: ours runs in the
foreground with its own configuration.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from . import debian

DEBIAN_PACKAGE = "haproxy"


def binary() -> str:
    """The machine's haproxy, installing the Debian package when it is missing (as root; the README says so)."""
    return debian.ensure_command("haproxy", DEBIAN_PACKAGE, recommends=False)


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int


@dataclass
class Config:
    listen: str                # address:port the balancer serves on
    servers: list[Server]
    workdir: Path              # its config and its runtime API socket
    health_path: str = "/readyz"
    inter_ms: int = 500        # one check per server every inter
    fall: int = 2              # failed checks in a row that take a server out
    rise: int = 2              # good checks in a row that bring it back
    # A check that takes longer failed. Generous: a saturated host answers /readyz in a second, and a server
    # taken out for being slow, not dead, is an outage of our own making. A dead host refuses at once anyway.
    check_timeout_ms: int = 2000
    connect_timeout_ms: int = 1000
    request_timeout_s: int = 30
    retries: int = 3
    extra_defaults: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.workdir / "haproxy.cfg"

    @property
    def socket(self) -> Path:
        return self.workdir / "admin.sock"

    def detection_bound(self) -> float:
        """Seconds from a server's death to its removal, at most: the check after the death can come up to one
        `inter` later, then `fall` failed checks, each taking at most its timeout."""
        return (self.inter_ms * (self.fall + 1) + self.check_timeout_ms) / 1000

    def render(self) -> str:
        servers = "".join(f"    server {s.name} {s.address}:{s.port} check\n" for s in self.servers)
        extra = "".join(f"    {line}\n" for line in self.extra_defaults)
        return (
            "# written by deploy/acme_stack/haproxy.py\n"
            "global\n"
            "    maxconn 2000\n"
            f"    stats socket {self.socket} mode 600 level operator\n"
            "defaults\n"
            "    mode http\n"
            f"    timeout connect {self.connect_timeout_ms}ms\n"
            f"    timeout client {self.request_timeout_s}s\n"
            f"    timeout server {self.request_timeout_s}s\n"
            f"    timeout check {self.check_timeout_ms}ms\n"
            # A connection refused by a dead server is tried again, the last time on another server.
            f"    retries {self.retries}\n"
            "    option redispatch 1\n"
            # No server left: the platform's own overload answer, problem+json with Retry-After, not an HTML page.
            "    http-error status 503 content-type application/problem+json string "
            "'{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
            "\"detail\":\"no instance is available\"}' hdr Retry-After 1\n"
            + extra +
            "frontend service\n"
            f"    bind {self.listen}\n"
            "    default_backend instances\n"
            "backend instances\n"
            "    balance roundrobin\n"
            f"    option httpchk GET {self.health_path}\n"
            "    http-check expect status 200\n"
            # Which instance answered, for whoever watches the move.
            "    http-response set-header X-Served-By %s\n"
            f"    default-server inter {self.inter_ms}ms fall {self.fall} rise {self.rise}\n"
            + servers
        )

    def write(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.render())

    def command(self) -> list[str]:
        # -db: foreground, no daemon (the caller supervises it); -W: master-worker, so a SIGTERM stops it cleanly.
        return [binary(), "-W", "-db", "-f", str(self.path)]

    def check(self) -> list[str]:
        return [binary(), "-c", "-f", str(self.path)]


def server_states(sock: Path, timeout: float = 2) -> dict[str, str]:
    """server name -> UP / DOWN / … from the runtime API's `show stat` (backend `instances`)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(b"show stat\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    header = lines[0][2:].split(",")
    states = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == "instances" and row.get("svname") not in ("BACKEND", "FRONTEND", None):
            states[row["svname"]] = row.get("status", "")
    return states
