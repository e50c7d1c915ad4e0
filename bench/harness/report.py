"""results.json, summary.md (tables + targets) and the PNG plots of one run."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

MODE_NAMES = {"L": "L library (storefront)", "H": "H HTTP microservices", "F": "F floor (psycopg)",
              "M": "M all-in-one (storefront in the monolith)"}
COLORS = {"L": "tab:blue", "H": "tab:red", "F": "tab:green", "M": "tab:purple"}


def _cell(results, workload, mode, c, hops=None):
    for r in results:
        if r["workload"] == workload and r["mode"] == mode and r["concurrency"] == c and r.get("hops") == hops:
            return r
    return None


# The targets of issue 16 (bench/README.md "Targets"), evaluated on every run that has the cells.
PLACE_ORDER_H_OVER_L = 5.0      # p50 at the lowest c, and L/H throughput at the highest
L_OVER_F_P50 = {"place_order": 1.5, "get_order": 2.0, "get_product": 2.0}   # at the lowest c
L_OVER_F_THROUGHPUT = 0.5       # place_order at the highest c
PER_DOMAIN_MS = 0.25            # hops sweep: L's p50 added per domain touched, (p50(4) - p50(1)) / 3
L_OVER_F_P99 = 2.0              # every workload at the highest c


def targets(results: list[dict], concurrency: list[int]) -> list[dict]:
    lo, hi = min(concurrency), max(concurrency)
    get = lambda mode, c: _cell(results, "place_order", mode, c)  # noqa: E731
    rows = []

    def add(name, target, value, ok, note=""):
        rows.append({"target": name, "wanted": target, "measured": value, "met": ok, "note": note})

    l1, h1 = get("L", lo), get("H", lo)
    lh, hh, fh = get("L", hi), get("H", hi), get("F", hi)
    if l1 and h1 and l1["latency_ms"]["p50"]:
        r = h1["latency_ms"]["p50"] / l1["latency_ms"]["p50"]
        add(f"place_order p50 at c={lo}: H / L", f">= {PLACE_ORDER_H_OVER_L:g}x", round(r, 2),
            r >= PLACE_ORDER_H_OVER_L, f"L {l1['latency_ms']['p50']:.2f} ms, H {h1['latency_ms']['p50']:.2f} ms")
    if lh and hh and hh["throughput_rps"]:
        r = lh["throughput_rps"] / hh["throughput_rps"]
        add(f"place_order throughput at c={hi}: L / H", f">= {PLACE_ORDER_H_OVER_L:g}x", round(r, 2),
            r >= PLACE_ORDER_H_OVER_L, f"L {lh['throughput_rps']:.0f}/s, H {hh['throughput_rps']:.0f}/s")
    for workload, limit in L_OVER_F_P50.items():
        lw, fw = _cell(results, workload, "L", lo), _cell(results, workload, "F", lo)
        if lw and fw and fw["latency_ms"]["p50"]:   # 0: no request finished in the window (an overloaded machine)
            r = lw["latency_ms"]["p50"] / fw["latency_ms"]["p50"]
            add(f"{workload} p50 at c={lo}: L / F", f"<= {limit:g}x", round(r, 2), r <= limit,
                f"L {lw['latency_ms']['p50']:.2f} ms, F {fw['latency_ms']['p50']:.2f} ms")
    if lh and fh and fh["throughput_rps"]:
        r = lh["throughput_rps"] / fh["throughput_rps"]
        add(f"place_order throughput at c={hi}: L / F", f">= {100 * L_OVER_F_THROUGHPUT:.0f} %", f"{100 * r:.0f} %",
            r >= L_OVER_F_THROUGHPUT, f"L {lh['throughput_rps']:.0f}/s, F {fh['throughput_rps']:.0f}/s")
    if hi > lo:
        for workload in ("place_order", "get_order", "get_product"):
            lw, fw = _cell(results, workload, "L", hi), _cell(results, workload, "F", hi)
            if lw and fw and fw["latency_ms"]["p99"]:
                r = lw["latency_ms"]["p99"] / fw["latency_ms"]["p99"]
                add(f"{workload} p99 at c={hi}: L / F", f"<= {L_OVER_F_P99:g}x", round(r, 2), r <= L_OVER_F_P99,
                    f"L {lw['latency_ms']['p99']:.2f} ms, F {fw['latency_ms']['p99']:.2f} ms")
    m1 = get("M", lo)
    if l1 and m1 and l1["latency_ms"]["p50"]:
        # Informational (no target): the all-in-one against the storefront alone, same wheels and workers.
        r = m1["latency_ms"]["p50"] / l1["latency_ms"]["p50"]
        add(f"place_order p50 at c={lo}: M (all-in-one) / L", "report", round(r, 2), True,
            f"L {l1['latency_ms']['p50']:.2f} ms, M {m1['latency_ms']['p50']:.2f} ms")
    hop_c = min((r["concurrency"] for r in results if r["workload"] == "hops"), default=None)
    for mode in ("L", "H", "F"):
        one = _cell(results, "hops", mode, hop_c, 1)
        four = _cell(results, "hops", mode, hop_c, 4)
        if one and four:
            per = (four["latency_ms"]["p50"] - one["latency_ms"]["p50"]) / 3
            detail = (f"{one['latency_ms']['p50']:.2f} -> {four['latency_ms']['p50']:.2f} ms from 1 to 4 domains "
                      f"({four['latency_ms']['p50'] / one['latency_ms']['p50']:.2f}x)" if one["latency_ms"]["p50"]
                      else "")
            if mode == "L":
                add(f"L p50 per domain touched, hops sweep (c={hop_c})", f"<= {PER_DOMAIN_MS:g} ms", f"{per:+.2f} ms",
                    per <= PER_DOMAIN_MS, detail)
            else:
                add(f"{mode} p50 per domain touched (c={hop_c}), for comparison", "-", f"{per:+.2f} ms", None, detail)
    return rows


def _fmt_cpu(cpu: dict | None) -> str:
    if not cpu:
        return "-"
    return (f"{cpu.get('generator_pct', 0):.0f}/{cpu.get('services_pct', 0):.0f}/{cpu.get('postgres_pct', 0):.0f}/"
            f"{cpu.get('other_pct', 0):.0f}")


def markdown(meta: dict, results: list[dict], profiles: list[dict], target_rows: list[dict]) -> str:
    m, pg = meta["machine"], meta["postgres"]
    conc = meta["config"]["concurrency"]
    lines = [f"# Bench run {meta['timestamp']}{' (quick)' if meta['quick'] else ''}", ""]
    lines += [f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory']}, Linux {m['kernel']}, Python {m['python']}, "
              f"{m['wrk']}. Commit {m['git_commit']}{' + uncommitted changes' if m['git_dirty'] else ''}. "
              f"Run took {meta['elapsed_s']:.0f} s.",
              f"PostgreSQL: {pg.get('version', '?').split(',')[0]}; shared_buffers={pg.get('shared_buffers')}, "
              f"synchronous_commit={pg.get('synchronous_commit')}, fsync={pg.get('fsync')}, "
              f"max_connections={pg.get('max_connections')}.",
              f"Services: gunicorn, {meta['gunicorn']['workers']} gevent workers each. "
              f"{meta['config']['rounds']} round(s) over the matrix, each cell a {meta['config']['seconds']} s window "
              f"(hops {meta['config']['hops_seconds']} s) after a warm-up per workload and mode ({meta['config']['warmup']} s "
              f"for place_order, half that for reads); a cell reports the median round.",
              f"Background CPU before measuring (bench idle): {meta.get('background_cpu_pct')} % of one core"
              + (" -- the machine was busy with other work: treat these numbers as noisy."
                 if (meta.get('background_cpu_pct') or 0) > 20 and not meta.get("nice") else ".")
              + (f" The bench, its services and PostgreSQL ran at nice {meta['nice']} (BENCH_NICE), above that "
                 "background work." if meta.get("nice") else ""), ""]
    lines += ["## Targets", "", "| target | wanted | measured | met | detail |", "|---|---|---|---|---|"]
    for t in target_rows:
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {t['wanted']} | {t['measured']} | {met} | {t['note']} |")
    lines += ["", "## Ratios", "",
              "| workload | c | H/L p50 | L/H throughput | L/F p50 | L/F throughput |", "|---|---|---|---|---|---|"]
    for w in ("place_order", "get_order", "get_product"):
        for c in conc:
            L, H, F = (_cell(results, w, x, c) for x in "LHF")
            if not L:
                continue
            def ratio(a, b, key):
                if not a or not b:
                    return "-"
                va = a["latency_ms"]["p50"] if key == "p50" else a["throughput_rps"]
                vb = b["latency_ms"]["p50"] if key == "p50" else b["throughput_rps"]
                return f"{va / vb:.2f}" if vb else "-"
            lines.append(f"| {w} | {c} | {ratio(H, L, 'p50')} | {ratio(L, H, 'tput')} | {ratio(L, F, 'p50')} | "
                         f"{ratio(L, F, 'tput')} |")
    hop_rows = [r for r in results if r["workload"] == "hops"]
    if hop_rows:
        lines += ["", "## Latency vs domains touched (hops sweep)", "",
                  "| domains | c | L p50 ms | H p50 ms | F p50 ms | H/L | L p99 ms | H p99 ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for n in (1, 2, 3, 4):
            for c in sorted({r["concurrency"] for r in hop_rows}):
                L, H, F = (_cell(results, "hops", x, c, n) for x in "LHF")
                if not L or not H:
                    continue
                lines.append(f"| {n} | {c} | {L['latency_ms']['p50']:.2f} | {H['latency_ms']['p50']:.2f} | "
                             f"{F['latency_ms']['p50'] if F else float('nan'):.2f} | "
                             f"{H['latency_ms']['p50'] / L['latency_ms']['p50']:.1f} | {L['latency_ms']['p99']:.2f} | "
                             f"{H['latency_ms']['p99']:.2f} |")
    lines += ["", "## All cells", "",
              "CPU columns are percent of ONE core during the window (the machine has "
              f"{m['cores']}): load generator / services under test / PostgreSQL / everything else. For F the "
              "generator is the client doing the work.", "",
              "| workload | mode | c | p50 ms | p90 ms | p99 ms | req/s | errors | CPU gen/svc/pg/other % |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        w = r["workload"] + (f" ({r['hops']})" if "hops" in r else "")
        lm = r["latency_ms"]
        lines.append(f"| {w} | {r['mode']} | {r['concurrency']} | {lm['p50']:.2f} | {lm['p90']:.2f} | {lm['p99']:.2f} | "
                     f"{r['throughput_rps']:.0f} | {r['error_count']} | {_fmt_cpu(r.get('cpu'))} |")
    total_errors = sum(r["error_count"] for r in results)
    lines += ["", f"Errors over the whole run: {total_errors}.", ""]
    for prof in profiles:
        lines += [f"## Profile: L {prof.get('workload', 'place_order')} (py-spy, CPU samples of the storefront workers)", "",
                  "| component (leaf frame) | % of CPU samples |", "|---|---|"]
        lines += [f"| {b['bucket']} | {b['pct']} |" for b in prof["buckets"]]
        lines += ["", "Top frames by self time:", "", "| % | frame |", "|---|---|"]
        lines += [f"| {f['pct']} | `{f['frame']}` |" for f in prof["self"][:15]]
        w = prof.get("workload", "place_order")
        lines += ["", f"Full tables: profile_L_{w}.txt; raw stacks: profile_L_{w}.raw.txt", ""]
    lines += ["## Versions", ""]
    for venv, versions in meta["versions"].items():
        lines.append(f"- {venv}: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines += ["", "Plots: latency_vs_concurrency.png, throughput_vs_concurrency.png, latency_vs_hops.png", ""]
    return "\n".join(lines)


def plots(out: Path, results: list[dict], conc: list[int]) -> None:
    workloads = [w for w in ("place_order", "get_order", "get_product") if any(r["workload"] == w for r in results)]
    for kind in ("latency", "throughput"):
        fig, axes = plt.subplots(1, len(workloads), figsize=(5 * len(workloads), 4.2), squeeze=False)
        for ax, w in zip(axes[0], workloads, strict=False):
            for mode in "LHFM":
                cells = [_cell(results, w, mode, c) for c in conc]
                xs = [c for c, cell in zip(conc, cells, strict=False) if cell]
                if not xs:
                    continue
                cells = [cell for cell in cells if cell]
                if kind == "latency":
                    ax.plot(xs, [x["latency_ms"]["p50"] for x in cells], "o-", color=COLORS[mode],
                            label=f"{MODE_NAMES[mode]} p50")
                    ax.plot(xs, [x["latency_ms"]["p99"] for x in cells], "x--", color=COLORS[mode], alpha=0.6,
                            label=f"{mode} p99")
                else:
                    ax.plot(xs, [x["throughput_rps"] for x in cells], "o-", color=COLORS[mode], label=MODE_NAMES[mode])
            ax.set_xscale("log", base=2)
            ax.set_xticks(conc, [str(c) for c in conc])
            ax.set_yscale("log")
            ax.set_xlabel("concurrent clients")
            ax.set_ylabel("latency (ms)" if kind == "latency" else "requests / s")
            ax.set_title(w)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle("Latency vs concurrency" if kind == "latency" else "Throughput vs concurrency")
        fig.tight_layout()
        fig.savefig(out / f"{kind}_vs_concurrency.png", dpi=110)
        plt.close(fig)
    hop_rows = [r for r in results if r["workload"] == "hops"]
    if hop_rows:
        c = min(r["concurrency"] for r in hop_rows)
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for mode in "LHFM":
            cells = [_cell(results, "hops", mode, c, n) for n in (1, 2, 3, 4)]
            pts = [(n, x) for n, x in zip((1, 2, 3, 4), cells, strict=False) if x]
            if not pts:
                continue
            ax.plot([n for n, _ in pts], [x["latency_ms"]["p50"] for _, x in pts], "o-", color=COLORS[mode],
                    label=f"{MODE_NAMES[mode]} p50")
            ax.plot([n for n, _ in pts], [x["latency_ms"]["p99"] for _, x in pts], "x--", color=COLORS[mode],
                    alpha=0.6, label=f"{mode} p99")
        ax.set_xticks([1, 2, 3, 4], ["1\nidentity", "2\n+catalog", "3\n+billing", "4\n+orders"])
        ax.set_ylim(bottom=0)
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"Latency vs domains touched (c={c})")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "latency_vs_hops.png", dpi=110)
        plt.close(fig)


def write(out: Path, meta: dict, results: list[dict], profiles: list[dict]) -> None:
    target_rows = targets(results, meta["config"]["concurrency"])
    (out / "results.json").write_text(json.dumps(
        {"meta": meta, "targets": target_rows, "results": results, "profiles": profiles}, indent=1, default=str))
    (out / "summary.md").write_text(markdown(meta, results, profiles, target_rows))
    plots(out, results, meta["config"]["concurrency"])
