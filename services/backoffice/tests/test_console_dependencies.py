"""Pure logic of the Dependencies page: bump kinds, reading a simple-API page, the SVG."""
from __future__ import annotations

from backoffice.console import dependencies, graph


def test_bump_kinds():
    assert dependencies.bump_kind("1.1.0", "2.0.0") == "major"
    assert dependencies.bump_kind("1.1.0", "1.2.0") == "minor"
    assert dependencies.bump_kind("1.1.0", "1.1.3") == "patch"


def test_versions_from_a_simple_page_ignore_other_packages_and_junk():
    html = ('<a href="x">acme_catalog-1.1.0-py3-none-any.whl</a><a href="y">acme_catalog-1.2.0.tar.gz</a>'
            '<a href="z">acme_catalog_extra-9.0.0-py3-none-any.whl</a><a>not-a-dist.txt</a>')
    assert dependencies._versions_in(html, "acme-catalog") == ["1.1.0", "1.2.0"]


def test_report_and_graph_mark_a_service_behind():
    instances = [{"service": "storefront", "packages": {"acme-catalog": "1.0.1"}},
                 {"service": "backoffice", "packages": {"acme-catalog": "1.1.0"}}]
    report = dependencies.report(instances, index_url="")
    assert report["index_configured"] is False
    assert {(r["service"], tuple(r["pinned"])) for r in report["rows"]} == {
        ("storefront", ("1.0.1",)), ("backoffice", ("1.1.0",))}
    svg = graph.dependency_svg(report)
    assert svg.startswith("<svg") and "acme-catalog 1.0.1 (behind)" in svg and "acme-catalog 1.1.0<" in svg
