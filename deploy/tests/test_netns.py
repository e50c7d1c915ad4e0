"""deploy/acme_stack/netns.py: hosts as network namespaces, never touching the root namespace, always torn down.

Needs root (as `make test` runs on this project's machines); without it these tests fail with netns's reason.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from acme_stack import netns, proc


@pytest.fixture(scope="module", autouse=True)
def namespaces_work():
    why = netns.unavailable()
    if why:
        pytest.fail(f"network namespaces are unavailable: {why}", pytrace=False)


def _root_links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def _ours(run: str) -> list[str]:
    return [n for n in netns.list_namespaces() if n.startswith(f"{netns.PREFIX}{run}-")]


def test_hosts_reach_each_other_and_the_root_namespace_is_untouched(tmp_path):
    before = _root_links()
    with netns.network(["one", "two"], run="t1") as net:
        assert _root_links() == before, "a link appeared in the root namespace"
        server = net.spawn("two", [sys.executable, "-m", "http.server", "--bind", net["two"].address, "8000"],
                           log=tmp_path / "http.log", env=proc.isolated_env(), cwd=tmp_path)
        net.wait_listening("two", 8000, 20, server)
        fetch = (f"import urllib.request; print(urllib.request.urlopen('http://{net['two'].address}:8000/',"
                 f" timeout=5).status)")
        assert net.run("one", [sys.executable, "-c", fetch], env=proc.isolated_env()).stdout.strip() == "200"
        assert not net.listening("one", 8000), "a port of one host is seen on another"
    assert _ours("t1") == []
    assert server.poll() is not None
    assert _root_links() == before


def test_a_failure_inside_still_kills_every_process_and_removes_every_namespace(tmp_path):
    started = []
    with pytest.raises(RuntimeError, match="planted"):
        with netns.network(["a", "b"], run="t2") as net:
            started = [net.spawn(h, ["sleep", "300"], log=tmp_path / f"{h}.log", env=proc.isolated_env())
                       for h in ("a", "b")]
            deadline = time.monotonic() + 10
            while not all(net.pids(h) for h in ("a", "b")) and time.monotonic() < deadline:
                time.sleep(0.05)
            raise RuntimeError("planted failure")
    assert [p.poll() is not None for p in started] == [True, True]
    assert _ours("t2") == []


def test_kill_host_kills_only_that_host(tmp_path):
    with netns.network(["a", "b"], run="t3") as net:
        a, b = (net.spawn(h, ["sleep", "300"], log=tmp_path / f"{h}.log", env=proc.isolated_env()) for h in "ab")
        deadline = time.monotonic() + 10
        while not (net.pids("a") and net.pids("b")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert net.kill_host("a") == [a.pid]
        assert a.wait(5) == -9 and b.poll() is None
        assert net.pids("a") == [] and net.pids("b") == [b.pid]


def test_a_namespace_left_by_a_dead_run_is_removed():
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = f"{netns.PREFIX}{dead.pid}-old"
    subprocess.run(["ip", "netns", "add", orphan], check=True)
    try:
        assert orphan in netns.remove_orphans()
        assert orphan not in netns.list_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", orphan], capture_output=True)


def test_bad_host_names_are_refused():
    with pytest.raises(netns.NetnsError):
        netns.Network(["db", "db"])
    with pytest.raises(netns.NetnsError):
        netns.Network(["far-too-long-name"])
