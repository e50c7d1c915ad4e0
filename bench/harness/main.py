"""The bench run: database, seed, services, the measured matrix, the profile, the report."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import platform as pyplatform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from . import load, otel, pooler, profile, report, services
from .cpu import CORES, Window, background_busy
from .stack import (RUN, BENCH, ROOT, BenchError, discover, installed_versions, isolated_env, login_url, masked,
                    read_credentials, with_database)

RUN_BENCH = RUN / "bench"
ROLES = RUN_BENCH / "roles"   # the logins `acmectl roles apply` writes for the bench database (mode 600)
TEMPLATE_MAX_AGE_S = 7 * 86400   # seeded tokens live 30 days

WORKLOADS = ("place_order", "get_product", "get_order")
MODES = ("L", "H", "F")
PG_SETTINGS = ("server_version", "max_connections", "shared_buffers", "work_mem", "synchronous_commit", "fsync",
               "wal_sync_method", "full_page_writes", "wal_level", "checkpoint_timeout", "max_wal_size",
               "effective_cache_size", "random_page_cost", "jit", "plan_cache_mode", "default_transaction_isolation")


@dataclass
class Config:
    quick: bool
    concurrency: list[int]
    warmup: int          # seconds of wrk at the highest concurrency before a (workload, mode) is measured
    seconds: int         # measured window
    hops_concurrency: list[int]
    hops_seconds: int
    rounds: int
    floor_warmup: float  # F warms up inside each run (fresh connections: statements get prepared again)
    profile_seconds: int  # 0: no profile
    workloads: list[str]
    hops: bool
    record: bool
    port_base: int | None


def parse(argv: list[str]) -> Config:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short windows, c = 1 and 32 (< 2 minutes)")
    ap.add_argument("--concurrency", help="comma-separated client counts (default 1,8,32; quick 1,32)")
    ap.add_argument("--seconds", type=int, help="measured window per cell and round (default 3; quick 2)")
    ap.add_argument("--rounds", type=int, help="rounds over the whole matrix; cells report the median (default 3; "
                                               "quick 1)")
    ap.add_argument("--hops-seconds", type=int, help="window per hops cell and round (default 2; quick 1)")
    ap.add_argument("--warmup", type=int, help="warm-up per workload and mode (default 4; quick 2)")
    ap.add_argument("--hops-concurrency", help="client counts for the hops sweep (default 1)")
    ap.add_argument("--profile-seconds", type=int, help="py-spy profile of L per profiled workload (default 10; quick 0; "
                                                        "BENCH_PROFILE_WORKLOAD, default place_order,get_order,get_product)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of " + ",".join(WORKLOADS))
    ap.add_argument("--hops", action=argparse.BooleanOptionalAction, default=True, help="run the hops sweep")
    ap.add_argument("--record", action="store_true",
                    help="also copy summary, JSON, plots and profile to bench/recorded/ (the run the README cites)")
    a = ap.parse_args(argv)
    env_conc = os.environ.get("BENCH_CONCURRENCY", "")
    conc = a.concurrency or env_conc or ("1,32" if a.quick else "1,8,32")
    return Config(
        quick=a.quick,
        concurrency=[int(x) for x in conc.split(",")],
        warmup=a.warmup if a.warmup is not None else (2 if a.quick else 4),
        seconds=a.seconds or int(os.environ.get("BENCH_SECONDS", 0)) or (2 if a.quick else 3),
        hops_concurrency=[int(x) for x in (a.hops_concurrency or "1").split(",")],
        hops_seconds=a.hops_seconds or (1 if a.quick else 2),
        rounds=a.rounds or int(os.environ.get("BENCH_ROUNDS", 0)) or (1 if a.quick else 3),
        floor_warmup=0.5 if a.quick else 1.0,
        profile_seconds=a.profile_seconds if a.profile_seconds is not None else (0 if a.quick else 10),
        workloads=[w for w in a.workloads.split(",") if w],
        hops=a.hops,
        record=a.record,
        port_base=int(os.environ["BENCH_PORT_BASE"]) if os.environ.get("BENCH_PORT_BASE") else None,
    )


def step(msg: str) -> None:
    print(f"bench: {msg}", flush=True)


def prepare_database(stack, fixtures: Path, log: Path) -> str:
    """A fresh `bench` database for every run, copied from a migrated and seeded template.

    Migrating and seeding through the libraries takes ~10 s; CREATE DATABASE ... TEMPLATE takes well
    under one. The template is rebuilt when the libraries, the seed script or the stack change, and
    before its tokens get old. Returns what was done.
    """
    template = f"{stack.bench_db}_template"
    saved = RUN_BENCH / "template-fixtures"
    want = _template_fingerprint(stack)
    with psycopg.connect(stack.admin_url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (template,)).fetchone()
        fresh = (row is not None and row[0] == want and (saved / "seed.json").exists()
                 and (ROLES / "storefront").exists()
                 and time.time() - (saved / "seed.json").stat().st_mtime < TEMPLATE_MAX_AGE_S)
        conn.execute(f'DROP DATABASE IF EXISTS "{stack.bench_db}" WITH (FORCE)')
        if not fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{template}"')
    if not fresh:
        template_url = with_database(stack.admin_url, template)
        # As `make up` deploys: roles from the storefront's declarations (as the administrator), migrations as
        # the migrator, and everything L, H and F send as the storefront's own login (stack.service_url).
        acmectl = str(stack.storefront_venv / "bin" / "acmectl")
        _run([acmectl, "roles", "apply", "--secrets", str(ROLES)],
             isolated_env({"ACME_ADMIN_DATABASE_URL": template_url, "VIRTUAL_ENV": str(stack.storefront_venv)}),
             log, "acmectl roles apply")
        migrator = isolated_env({"DATABASE_URL": login_url(ROLES / "migrator"), "VIRTUAL_ENV": str(stack.storefront_venv)})
        _run([acmectl, "migrate"], migrator, log, "acmectl migrate")
        env = isolated_env({"DATABASE_URL": login_url(ROLES / "storefront"), "VIRTUAL_ENV": str(stack.storefront_venv)})
        if saved.exists():
            shutil.rmtree(saved)
        _run([str(stack.storefront_venv / "bin" / "python"), str(BENCH / "seed.py"), str(saved)], env, log, "seed")
        with psycopg.connect(stack.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{want}'")
    # One login carries L's, H's four services' and F's connections at once, far past the storefront's
    # declared budget (CONNECTION LIMIT): lifted for the bench database's role only.
    role = read_credentials(ROLES / "storefront")["ACME_DB_ROLE"]
    with psycopg.connect(stack.admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT -1')
        conn.execute(f'CREATE DATABASE "{stack.bench_db}" TEMPLATE "{template}"')
    shutil.copytree(saved, fixtures)
    return "reused the seeded template" if fresh else "migrated and seeded a new template"


def _template_fingerprint(stack) -> str:
    published = ROOT / ".run" / "state" / "published.json"
    parts = [json.dumps(installed_versions(stack.storefront_venv), sort_keys=True),
             (BENCH / "seed.py").read_text(), published.read_text() if published.exists() else "",
             os.environ.get("BENCH_STOREFRONT_VENV", "")]
    if os.environ.get("BENCH_STOREFRONT_VENV"):
        parts.append(str(time.time()))   # editable dev venvs: sources may have changed, always rebuild
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _run(cmd: list[str], env: dict, log: Path, what: str) -> None:
    with open(log, "a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        done = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}); see {log}")


def postgres_info(url: str) -> tuple[int | None, dict]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        settings = dict(conn.execute("SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings "
                                     "WHERE name = ANY(%s)", (list(PG_SETTINGS),)).fetchall())
        settings["version"] = conn.execute("SELECT version()").fetchone()[0]
        postmaster = None
        try:
            stat = Path(f"/proc/{backend}/stat").read_text()
            postmaster = int(stat[stat.rfind(")") + 2:].split()[1])
        except OSError:
            pass  # PostgreSQL on another host: its CPU is not measured
    return postmaster, settings


def raise_priority(postmaster: int | None):
    """BENCH_NICE=-10: run everything measured (this harness and its children: services, wrk, F) and
    the PostgreSQL cluster at a higher CPU priority than the rest of a shared machine, so other
    people's work there does not land in the numbers. Returns a function that restores PostgreSQL."""
    nice = int(os.environ.get("BENCH_NICE", "0") or 0)
    if not nice:
        return lambda: None
    from .cpu import _table, descendants

    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        step(f"BENCH_NICE={nice} needs root; running at normal priority")
        return lambda: None
    changed: dict[int, int] = {}
    if postmaster:
        for pid in descendants([postmaster], _table()):
            try:
                changed[pid] = os.getpriority(os.PRIO_PROCESS, pid)
                os.setpriority(os.PRIO_PROCESS, pid, nice)
            except OSError:
                pass
    step(f"BENCH_NICE={nice}: the bench and {len(changed)} PostgreSQL processes run at nice {nice}")

    def restore() -> None:
        for pid, value in changed.items():
            try:
                os.setpriority(os.PRIO_PROCESS, pid, value)
            except OSError:
                pass
        # Backends forked meanwhile inherited the postmaster's priority; put them back too.
        if postmaster and changed:
            for pid in descendants([postmaster], _table()):
                try:
                    os.setpriority(os.PRIO_PROCESS, pid, changed.get(postmaster, 0))
                except OSError:
                    pass
    return restore


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "libs", "services", "bench"],
                           capture_output=True, text=True)
    return {"cpu_model": cpu, "cores": CORES, "memory": mem, "kernel": pyplatform.release(),
            "python": sys.version.split()[0], "wrk": load.wrk_version(),
            "git_commit": git.stdout.strip() or "?", "git_dirty": bool(dirty.stdout.strip())}


def main(argv: list[str]) -> int:
    try:
        return run(parse(argv))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1


def run(cfg: Config) -> int:
    began = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = BENCH / "results" / stamp
    logs, fixtures = out / "logs", out / "fixtures"
    logs.mkdir(parents=True)
    load.ensure_wrk()
    stack = discover(logs / "setup.log")
    step(f"{'quick' if cfg.quick else 'full'} run -> {out.relative_to(ROOT)}")
    step(f"PostgreSQL {masked(stack.bench_url)}; L venv {stack.storefront_venv}; H venv {stack.http_venv}")

    step("a fresh bench database: 1,000 products, 100 funded customers with tokens, 500 orders")
    how = prepare_database(stack, fixtures, logs / "setup.log")
    step(f"bench database ready ({how}) after {time.monotonic() - began:.0f}s")
    postmaster, pg_settings = postgres_info(stack.bench_url)
    restore_nice = raise_priority(postmaster)

    bouncer = None
    if pooler.wanted():
        bouncer = pooler.BenchPooler(stack.service_url, out / "pgbouncer", services.free_port())
        bouncer.start()
        step(f"POOLER=pgbouncer: L's request traffic through PgBouncer on port {bouncer.bouncer.config.listen_port}")
    otel_env, otlp_sink = otel.plan(logs)
    step(f"observability: {otel.describe()}")
    svcs = services.plan(stack, logs, cfg.port_base, {**(bouncer.env() if bouncer else {}), **otel_env} or None)
    if otlp_sink is not None:
        svcs.append(otlp_sink)   # stopped after L, so L's last batches still find it
    by_name = {s.name: s for s in svcs}
    step("starting L (storefront, l-hops) and H (identity, catalog, billing, orders) under gunicorn+gevent")
    results: list[dict] = []
    profiles: list[dict] = []
    background = None
    nonce_base = int(time.time()) * 1000
    calls = iter(range(1, 1000))

    def nonce() -> str:
        # Every wrk/floor run gets its own: Idempotency-Keys never repeat across runs and modes.
        return str(nonce_base + next(calls))
    try:
        services.start(svcs)
        step(f"services up in {time.monotonic() - began:.0f}s since start")
        background = background_busy(1.0 if cfg.quick else 2.0)
        note = ("  WARNING: other processes keep the machine busy; numbers will be noisy"
                if background > 20 else "")
        step(f"background CPU with the bench idle: {background:.0f}% of one core{note}")
        h_pids = [s.proc.pid for s in svcs if s.mode == "H"]
        pg = [postmaster] if postmaster else []

        modes = MODES + (("M",) if "monolith" in by_name else ())   # M: workloads only, no hops endpoint

        def window(mode: str, hops: bool = False) -> Window:
            groups = {"L": [by_name["l-hops" if hops else "storefront"].proc.pid], "H": h_pids, "F": [],
                      "M": [by_name["monolith"].proc.pid] if "monolith" in by_name else []}[mode]
            return Window({"services": groups, "postgres": pg})

        def http_target(mode: str, workload: str) -> str:
            if mode == "L":
                return by_name["storefront"].url
            if mode == "M":
                return f"{by_name['monolith'].url}/storefront"
            # H: single-domain public reads are routed straight to the owning service (as an ingress
            # would); everything else enters through the orders gateway.
            return by_name["h-catalog"].url if workload == "get_product" else by_name["h-orders"].url

        def measure(workload: str, mode: str, c: int, seconds: int, hops: int | None = None) -> dict:
            if mode == "F":
                return load.floor(stack.storefront_venv / "bin" / "python", stack.service_url, workload, c, cfg.floor_warmup, seconds, fixtures, nonce(),
                                  hops=hops, window=window("F"))
            if hops is None:
                return load.wrk(http_target(mode, workload), workload, c, seconds, fixtures, nonce(),
                                window=window(mode))
            url = by_name["l-hops"].url if mode == "L" else by_name["h-orders"].url
            return load.wrk(url, "hops", c, seconds, fixtures, nonce(), [str(hops)], window=window(mode, hops=True))

        # Rounds: every cell is measured `rounds` times, the modes interleaved within a round, and
        # reported as the median over rounds, so a burst of unrelated load on the machine moves one
        # round of all three modes rather than one mode's only sample.
        top = max(cfg.concurrency)
        for workload in cfg.workloads:
            # Writes need the longer warm-up (pool filled, statements prepared on every connection).
            warm = cfg.warmup if workload == "place_order" else max(1, cfg.warmup // 2)
            for mode in ("L", "H", *modes[len(MODES):]):
                step(f"{workload}: warm-up {mode} ({warm}s at c={top})")
                load.wrk(http_target(mode, workload), workload, top, warm, fixtures, nonce())
            cells: dict[tuple, list[dict]] = {}
            for r in range(cfg.rounds):
                for c in cfg.concurrency:
                    for mode in modes:
                        cells.setdefault((mode, c), []).append(load.summarize(measure(workload, mode, c, cfg.seconds)))
                        _echo({"workload": workload, "mode": mode, "concurrency": c, "round": r + 1,
                               **cells[(mode, c)][-1]})
            for c in cfg.concurrency:
                for mode in modes:
                    results.append({"workload": workload, "mode": mode, "concurrency": c,
                                    **load.combine(cells[(mode, c)])})

        if cfg.hops:
            for mode in ("L", "H"):
                url = by_name["l-hops"].url if mode == "L" else by_name["h-orders"].url
                load.wrk(url, "hops", max(cfg.hops_concurrency), 1 if cfg.quick else 2, fixtures, nonce(), ["4"])
            cells = {}
            for r in range(cfg.rounds):
                for n in (1, 2, 3, 4):
                    for c in cfg.hops_concurrency:
                        for mode in MODES:
                            cells.setdefault((n, mode, c), []).append(
                                load.summarize(measure("hops", mode, c, cfg.hops_seconds, hops=n)))
                            _echo({"workload": "hops", "hops": n, "mode": mode, "concurrency": c, "round": r + 1,
                                   **cells[(n, mode, c)][-1]})
            for n in (1, 2, 3, 4):
                for c in cfg.hops_concurrency:
                    for mode in MODES:
                        results.append({"workload": "hops", "hops": n, "mode": mode, "concurrency": c,
                                        **load.combine(cells[(n, mode, c)])})

        if cfg.profile_seconds:
            for workload in os.environ.get("BENCH_PROFILE_WORKLOAD", ",".join(WORKLOADS)).split(","):
                if workload:
                    analysis = run_profile(cfg, workload, by_name["storefront"], out, fixtures, nonce())
                    profiles.extend([analysis] if analysis else [])
    finally:
        step("stopping the bench services")
        services.stop(svcs)
        if bouncer is not None:
            bouncer.stop()
        restore_nice()

    meta = {
        "timestamp": stamp, "quick": cfg.quick, "config": cfg.__dict__,
        "elapsed_s": round(time.monotonic() - began, 1),
        "machine": machine_info(), "postgres": pg_settings, "background_cpu_pct": background,
        "nice": int(os.environ.get("BENCH_NICE", "0") or 0),
        "versions": {"L (storefront venv)": installed_versions(stack.storefront_venv),
                     "H (bench http venv)": installed_versions(stack.http_venv),
                     **({"M (monolith venv)": installed_versions(stack.monolith_venv)} if stack.monolith_venv else {})},
        "seed": json.loads((fixtures / "seed.json").read_text()),
        "pooler": "pgbouncer (transaction mode) for L" if bouncer is not None else "none",
        "observability": otel.describe(),
        "gunicorn": {"workers": os.environ.get("ACME_WEB_WORKERS", "2 (platform default)"),
                     "worker_class": "gevent"},
    }
    meta["seed"].pop("customer_ids", None)
    report.write(out, meta, results, profiles)
    latest = BENCH / "results" / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(stamp)
    if cfg.record:
        recorded = BENCH / "recorded"
        recorded.mkdir(exist_ok=True)
        # Only the top-level files are the cited run; folders beside them (before-fixes/) are history.
        for old in recorded.iterdir():
            if old.is_file():
                old.unlink()
        for f in out.iterdir():
            if f.is_file() and not f.name.endswith(".raw.txt"):
                shutil.copy2(f, recorded / f.name)
        step(f"recorded in {recorded.relative_to(ROOT)}/")
    step(f"done in {time.monotonic() - began:.0f}s: {out.relative_to(ROOT)}/summary.md")
    print((out / "summary.md").read_text().split("## All cells")[0])
    return 0


def run_profile(cfg: Config, workload: str, storefront, out: Path, fixtures: Path, nonce: str) -> dict | None:
    py_spy = str(Path(sys.executable).parent / "py-spy")
    raw = out / f"profile_L_{workload}.raw.txt"
    c = 8
    step(f"profiling L {workload} with py-spy ({cfg.profile_seconds}s at c={c})")
    spy = profile.record(py_spy, storefront.proc.pid, cfg.profile_seconds, raw, out / "logs" / "py-spy.log")
    load.wrk(storefront.url, workload, c, cfg.profile_seconds + 2, fixtures, nonce)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
    if not raw.exists():
        step("py-spy wrote no profile (see logs/py-spy.log); continuing without one")
        return None
    analysis = profile.analyze(raw)
    (out / f"profile_L_{workload}.txt").write_text(profile.render(analysis))
    analysis["workload"] = workload
    return analysis


def _echo(row: dict) -> None:
    hops = f" hops={row['hops']}" if "hops" in row else ""
    hops += f" r{row['round']}" if "round" in row else ""
    cpu = row.get("cpu") or {}
    print(f"  {row['workload']:<11}{hops:<7} {row['mode']} c={row['concurrency']:<3} "
          f"p50={row['latency_ms']['p50']:8.2f}ms p99={row['latency_ms']['p99']:8.2f}ms "
          f"{row['throughput_rps']:8.1f} req/s errors={row['error_count']} "
          f"cpu gen/svc/pg/other={cpu.get('generator_pct', '-')}/{cpu.get('services_pct', '-')}/"
          f"{cpu.get('postgres_pct', '-')}/{cpu.get('other_pct', '-')}%", flush=True)
