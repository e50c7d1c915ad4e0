"""Several hosts on one machine: Linux network namespaces joined by one bridge (tests/test_multihost_drill.py).

Each host is a namespace `acmenet-<run>-<host>` with its own loopback and one veth link, `eth0`, whose other
end is a port of the bridge `br0`. The bridge lives in the run's own switch namespace (`acmenet-<run>-sw`), and
every veth is created there with its peer moved straight into its host: the root namespace's links, routes and
firewall are never touched, and nothing outside the run's namespaces can reach its hosts. Addresses come from
10.61.0.0/24 (a subnet private to each run: two runs have two switches, so they never see each other).

`network()` is a context manager that always tears down, whatever happened inside: every process in each
namespace (`ip netns pids`) gets SIGTERM, then SIGKILL after a bounded grace, then the namespaces go (their veth
links with them). A namespace left by a run that was itself killed (its creator pid is gone) is removed on the
next start. Every wait here is bounded.

Needs root and iproute2's `ip` (Debian 12 has both); `unavailable()` says why not, in one line.
"""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

PREFIX = "acmenet-"
SUBNET = ipaddress.ip_network("10.61.0.0/24")
FIRST_HOST = 10   # hosts get .10, .11, … in the order they are named
_BRIDGE = "br0"
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")   # short: "<host>-v" must fit a 15-character link name


class NetnsError(Exception):
    pass


def _ip(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def _must(*args: str) -> str:
    res = _ip(*args)
    if res.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {(res.stderr or res.stdout).strip() or f'exit {res.returncode}'}")
    return res.stdout


def unavailable() -> str | None:
    """Why this process cannot make network namespaces (None when it can): a probe namespace is made and removed."""
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed: apt-get install iproute2"
    if os.geteuid() != 0:
        return "network namespaces need root (`ip netns add` as uid 0)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    res = _ip("netns", "add", probe)
    if res.returncode != 0:
        return f"`ip netns add` fails here: {(res.stderr or res.stdout).strip() or f'exit {res.returncode}'}"
    _ip("netns", "del", probe)
    return None


@dataclass(frozen=True)
class Host:
    name: str        # "db", "app1", …
    namespace: str   # acmenet-<run>-<name>
    address: str     # its eth0 address, e.g. 10.61.0.10

    def command(self, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        """argv run on this host (`ip netns exec` joins the namespace and execs argv: same pid)."""
        return ["ip", "netns", "exec", self.namespace, *(str(a) for a in argv)]

    @property
    def wrap(self) -> tuple[str, ...]:
        return tuple(self.command([]))


class Network:
    def __init__(self, names: Sequence[str], run: str | None = None):
        bad = [n for n in names if not _NAME.match(n)] + (["duplicates"] if len(set(names)) != len(names) else [])
        if bad or not names:
            raise NetnsError(f"host names must be distinct, lowercase, 1-8 characters: {', '.join(bad) or 'none given'}")
        self.run_id = run or str(os.getpid())
        self.switch = f"{PREFIX}{self.run_id}-sw"
        hosts = list(SUBNET.hosts())
        self.hosts = {name: Host(name, f"{PREFIX}{self.run_id}-{name}", str(hosts[FIRST_HOST - 1 + i]))
                      for i, name in enumerate(names)}
        self.started: list[subprocess.Popen] = []

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    @property
    def subnet(self) -> str:
        return str(SUBNET)

    # -- plumbing ----------------------------------------------------------------------------------
    def create(self) -> None:
        remove_orphans()
        _must("netns", "add", self.switch)
        _must("-n", self.switch, "link", "add", _BRIDGE, "type", "bridge")
        _must("-n", self.switch, "link", "set", _BRIDGE, "up")
        for host in self.hosts.values():
            _must("netns", "add", host.namespace)
            _must("-n", host.namespace, "link", "set", "lo", "up")
            # Made inside the switch namespace, the peer moved straight into the host's: never in the root's.
            port = f"{host.name}-v"
            _must("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                  "netns", host.namespace)
            _must("-n", self.switch, "link", "set", port, "master", _BRIDGE, "up")
            _must("-n", host.namespace, "addr", "add", f"{host.address}/{SUBNET.prefixlen}", "dev", "eth0")
            _must("-n", host.namespace, "link", "set", "eth0", "up")

    def link_down(self, name: str) -> None:
        """The host's cable is pulled: its end of the link goes down (its processes keep running)."""
        _must("-n", self.hosts[name].namespace, "link", "set", "eth0", "down")

    # -- processes ---------------------------------------------------------------------------------
    def spawn(self, name: str, argv: Sequence[str | os.PathLike[str]], *, log: Path, env: Mapping[str, str],
              cwd: Path | None = None) -> subprocess.Popen:
        """A long-running process on host `name`, in a session of its own, output to `log`."""
        with open(log, "ab") as fh:
            child = subprocess.Popen(self.hosts[name].command(argv), stdout=fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=dict(env), cwd=str(cwd) if cwd else None,
                                     start_new_session=True)
        self.started.append(child)
        return child

    def run(self, name: str, argv: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str],
            stdin: str | None = None, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """A command on host `name`, to completion (bounded by `timeout`)."""
        return subprocess.run(self.hosts[name].command(argv), input=stdin, capture_output=True, text=True,
                              env=dict(env), cwd=str(cwd) if cwd else None, timeout=timeout,
                              stdin=None if stdin is not None else subprocess.DEVNULL)

    def pids(self, name: str) -> list[int]:
        return namespace_pids(self.hosts[name].namespace)

    def kill_host(self, name: str, timeout: float = 10) -> list[int]:
        """SIGKILL every process on host `name` (a host that dies: nothing runs its shutdown); returns their
        pids once none is left."""
        return _kill_namespace(self.hosts[name].namespace, signal.SIGKILL, timeout)

    def listening(self, name: str, port: int) -> bool:
        """Whether something on host `name` listens on TCP `port` (read from /proc, no process spawned)."""
        pids = self.pids(name)
        for pid in pids[:1]:
            for table in ("tcp", "tcp6"):
                try:
                    lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
                except OSError:
                    continue
                for line in lines:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:   # 0A: LISTEN
                        return True
        return False

    def wait_listening(self, name: str, port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not self.listening(name, port):
            if process is not None and process.poll() is not None:
                raise NetnsError(f"{name}: the process for port {port} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise NetnsError(f"{name}: nothing listens on port {port} after {timeout:.0f}s")
            time.sleep(0.1)

    # -- teardown ----------------------------------------------------------------------------------
    def teardown(self, grace: float = 10) -> list[str]:
        """Every process in every namespace stopped (SIGTERM, SIGKILL after `grace`), every namespace removed.
        Returns what could not be done (empty when all went)."""
        problems = []
        for host in reversed(self.hosts.values()):   # clients before the servers they hold connections to
            try:
                _kill_namespace(host.namespace, signal.SIGTERM, grace)
            except NetnsError:
                try:
                    _kill_namespace(host.namespace, signal.SIGKILL, grace)
                except NetnsError as e:
                    problems.append(str(e))
        for child in self.started:   # reap: `ip netns exec` children are ours
            try:
                child.wait(timeout=1)
            except subprocess.TimeoutExpired:
                problems.append(f"pid {child.pid} still running")
        for namespace in [h.namespace for h in self.hosts.values()] + [self.switch]:
            res = _ip("netns", "del", namespace)
            if res.returncode != 0 and namespace in list_namespaces():
                problems.append(f"ip netns del {namespace}: {res.stderr.strip()}")
        return problems


def list_namespaces() -> list[str]:
    res = _ip("netns", "list")
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()] if res.returncode == 0 else []


def namespace_pids(namespace: str) -> list[int]:
    res = _ip("netns", "pids", namespace)
    return [int(p) for p in res.stdout.split() if p.isdigit()] if res.returncode == 0 else []


def _kill_namespace(namespace: str, sig: signal.Signals, timeout: float) -> list[int]:
    """`sig` to every process in the namespace until none is left (bounded); the pids seen."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = namespace_pids(namespace)
        if not pids:
            return sorted(seen)
        for pid in pids:
            seen.add(pid)
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise NetnsError(f"{namespace}: pids {pids} still running {timeout:.0f}s after signal {sig.name}")
        time.sleep(0.1)


def remove_orphans() -> list[str]:
    """Namespaces of earlier runs whose creating process is gone (a run killed before its teardown)."""
    removed = []
    for namespace in list_namespaces():
        m = re.match(rf"^{PREFIX}(\d+)-", namespace)
        if not m or Path(f"/proc/{m.group(1)}").exists():
            continue
        try:
            _kill_namespace(namespace, signal.SIGKILL, 5)
        except NetnsError:
            continue
        if _ip("netns", "del", namespace).returncode == 0:
            removed.append(namespace)
    return removed


@contextmanager
def network(names: Sequence[str], run: str | None = None) -> Iterator[Network]:
    """Hosts `names` on one bridge, torn down on the way out whatever happened (see the module docstring)."""
    net = Network(names, run)
    try:
        net.create()
        yield net
    except BaseException:
        net.teardown()   # the failure that got us here is the one to report
        raise
    problems = net.teardown()
    if problems:
        raise NetnsError("teardown incomplete: " + "; ".join(problems))
