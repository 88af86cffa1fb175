"""Data Docs offline: every CDN script and stylesheet of a real GX site is served from the site itself."""

from __future__ import annotations

import re

import pytest

from expectations import offline_docs
from expectations.runner import build_data_docs, validate_table
import pyarrow as pa

_OFF_MACHINE = re.compile(r"<(?:script|link|img)\b[^>]*(?:src|href)=[\"']https?://", re.I)


def test_rewrite_page_points_known_cdn_files_at_local_copies_and_drops_the_rest():
    html = ('<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
            '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
            '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
            'integrity="sha384-x" crossorigin="anonymous"></script>'
            '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
            '<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>'
            '<img src="https://example.invalid/logo.png">'
            '<a href="https://greatexpectations.io/">GX</a>')
    out, rewritten, removed = offline_docs.rewrite_page(html, "static/vendor/")
    assert (rewritten, removed) == (4, 2)
    assert 'href="static/vendor/bootstrap@4.3.1/dist/css/bootstrap.min.css"' in out
    assert '<script src="static/vendor/bootstrap@4.3.1/dist/js/bootstrap.min.js"></script>' in out  # no SRI
    assert out.count("vega-bundle.js") == 1 and "vega-lite@5" not in out
    assert not _OFF_MACHINE.search(out)
    assert '<a href="https://greatexpectations.io/">GX</a>' in out  # a link the reader may follow stays


def test_a_built_site_loads_nothing_from_off_the_machine(tmp_path):
    if not (offline_docs.assets_dir() / "vega").exists():
        pytest.skip(f"the Data Docs assets are not installed in {offline_docs.assets_dir()} (dev.py installs them)")
    table = pa.table({"service_key": ["s1"], "provider_ods": ["RZZ"], "setting": ["secondary"], "level": ["place"]})
    validate_table("analytics", "service", table, context_root=tmp_path / "gx", site_dir=tmp_path / "site")
    index = build_data_docs(tmp_path / "gx", tmp_path / "site")
    pages = list((tmp_path / "site").rglob("*.html"))
    assert len(pages) >= 2
    for page in pages:
        if "vendor" not in page.parts:
            assert not _OFF_MACHINE.search(page.read_text(encoding="utf-8")), page
    html = index.read_text(encoding="utf-8")
    for local in re.findall(r"(?:src|href)=\"(static/vendor/[^\"]+)\"", html):
        assert (index.parent / local).is_file(), local
    assert "bootstrap-table.min.js" in html


def test_missing_assets_are_said_in_one_line(tmp_path):
    with pytest.raises(offline_docs.MissingAssets, match="offline_docs install"):
        offline_docs.make_offline(tmp_path, source=tmp_path / "nothing")
