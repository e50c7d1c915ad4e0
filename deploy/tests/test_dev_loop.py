"""The developer loop: `make dev` serves a saved library edit within 5 s; `make up` serves the release.

SLOW (a few minutes): a throwaway clone (stack_support) runs `make dev`, where every service runs libs/
and services/ editable from the working tree. The test changes what a library function answers (the
title of catalog's ProductNotFound problem) and the running storefront answers with the change within
5 s, while announcing that it runs working-tree code (/healthz, the instance registry). Then `make up`
in the same clone switches back to the packages published to the private index: the published title,
no dev flag, and a working-tree edit no longer changes anything.
"""
from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request

import pytest

from conftest import service_spec
from stack_support import Stack, explain, sigterm_as_interrupt

pytestmark = pytest.mark.slow

ERRORS = "libs/acme-catalog/src/acme_catalog/errors.py"
PUBLISHED_TITLE = 'title = "Product not found"'
EDIT_BOUND = 5.0   # the bound: a saved change is serving within 5 s


@pytest.fixture(scope="module")
def clone(repo_root):
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    s = None
    try:
        s = Stack(repo_root)
        yield s
    finally:
        if s is not None:
            s.teardown()
        signal.signal(signal.SIGTERM, previous)


def storefront(clone) -> str:
    return f"http://127.0.0.1:{clone.ports[service_spec(clone.root, 'storefront')['port_env']]}"


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def missing_product_title(clone) -> str:
    status, body = get_json(f"{storefront(clone)}/v1/products/NO-SUCH-SKU")
    assert status == 404, body
    return body["title"]


def registry(clone, venv: str) -> list[dict]:
    env = dict(line.removeprefix("export ").split("=", 1)
               for line in (clone.root / ".run/acme.env").read_text().splitlines() if "=" in line)
    res = clone.run([str(clone.root / ".run" / venv / "storefront/bin/acmectl"), "status", "--json"],
                    {"DATABASE_URL": env["DATABASE_URL"].strip("'\"")})
    assert res.returncode == 0, explain(res)
    return json.loads(res.stdout)["instances"]


def test_make_dev_serves_a_saved_library_edit_within_5s_and_make_up_the_release(clone):
    res = clone.make("dev")
    assert res.returncode == 0, explain(res)
    assert "skipped: make dev installs libs/ editable" in res.stdout

    status, health = get_json(f"{storefront(clone)}/healthz")
    assert status == 200 and health["dev"] is True, health
    assert health["version"].endswith("+dev") and health["dev_packages"]["acme-catalog"].endswith("+dev"), health
    live = registry(clone, "venvs-dev")
    assert live and all(v.endswith("+dev") for i in live for v in i["packages"].values()), live
    assert "WORKING-TREE code" in (clone.root / ".run/logs/storefront.log").read_text()
    assert missing_product_title(clone) == "Product not found"

    source = clone.root / ERRORS
    original = source.read_text()
    assert PUBLISHED_TITLE in original
    source.write_text(original.replace(PUBLISHED_TITLE, 'title = "No such product (edited)"'))
    saved = time.monotonic()
    while (title := missing_product_title(clone)) != "No such product (edited)":
        assert time.monotonic() - saved < EDIT_BOUND, f"still {title!r} {EDIT_BOUND}s after the save"
        time.sleep(0.1)

    # Back to the released packages: one command. (The edit is reverted first: make up publishes
    # libs/, and would refuse changed content under an already released version.)
    source.write_text(original)
    res = clone.make("up")
    assert res.returncode == 0, explain(res)
    status, health = get_json(f"{storefront(clone)}/healthz")
    assert status == 200 and "dev" not in health and "+" not in health["version"], health
    live = registry(clone, "venvs")
    assert live and not any("+dev" in v for i in live for v in i["packages"].values()), live
    assert missing_product_title(clone) == "Product not found"

    # make up runs the wheel from the index: saving the working tree changes nothing it serves.
    source.write_text(original.replace(PUBLISHED_TITLE, 'title = "No such product (edited)"'))
    time.sleep(EDIT_BOUND)
    assert missing_product_title(clone) == "Product not found"
