"""The dependencies picture: services on the left, library versions on the right, an edge per pin.

Drawn server-side as plain SVG (no JavaScript, no layout library): two columns are all this graph needs.
A library version that is not the newest one running anywhere is drawn in the warning colour.
"""
from __future__ import annotations

from html import escape

from packaging.version import Version

ROW = 34
BOX_H = 24


def dependency_svg(report: dict) -> str:
    services = report["services"]
    nodes: list[tuple[str, str]] = sorted({(r["package"], v) for r in report["rows"] for v in r["pinned"]})
    newest: dict[str, str] = {}
    for package in {p for p, _ in nodes}:
        newest[package] = max((v for p, v in nodes if p == package), key=Version)
    height = max(len(services), len(nodes), 1) * ROW + 20
    left_x, right_x, box_w = 10, 420, 260
    ys = {s: 10 + i * ROW for i, s in enumerate(services)}
    yn = {n: 10 + i * ROW for i, n in enumerate(nodes)}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="deps-graph" width="{right_x + box_w + 10}" '
             f'height="{height}" role="img" aria-label="services and the library versions they run">']
    for r in report["rows"]:
        for v in r["pinned"]:
            y1, y2 = ys[r["service"]] + BOX_H / 2, yn[(r["package"], v)] + BOX_H / 2
            parts.append(f'<line x1="{left_x + 160}" y1="{y1}" x2="{right_x}" y2="{y2}" stroke="#8899aa"/>')
    for s, y in ys.items():
        parts.append(f'<rect x="{left_x}" y="{y}" width="160" height="{BOX_H}" rx="4" fill="#e6eef8" stroke="#336"/>'
                     f'<text x="{left_x + 8}" y="{y + 16}" font-size="13">{escape(s)}</text>')
    for (package, version), y in yn.items():
        old = version != newest[package]
        fill = "#fde2e2" if old else "#e8f6e8"
        parts.append(f'<rect x="{right_x}" y="{y}" width="{box_w}" height="{BOX_H}" rx="4" fill="{fill}" '
                     'stroke="#363"/>'
                     f'<text x="{right_x + 8}" y="{y + 16}" font-size="13">{escape(package)} {escape(version)}'
                     f'{" (behind)" if old else ""}</text>')
    parts.append("</svg>")
    return "".join(parts)
