"""The `published/<table>` assets and the `report` asset, materialised by Dagster over a copy of a
finished run's warehouse: each published table is its own asset with its own suite's check and
carries a markdown preview and a small chart in its metadata; the report asset writes the static report."""

from __future__ import annotations

import base64
import re
import shutil

import dagster as dg

from pipelines.resources import CarebridgeResource
from pipelines.warehouse_assets import published, report
from warehouse.publish import published_specs


def test_published_tables_carry_a_preview_and_a_chart_and_the_report_is_written(duckdb_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(duckdb_run.out / "warehouse.duckdb", out / "warehouse.duckdb")
    shutil.copytree(duckdb_run.out / "data_docs", out / "data_docs")
    resource = CarebridgeResource(landing_dir=str(duckdb_run.landing), out_dir=str(out),
                                  warehouse_url=f"duckdb:///{out / 'warehouse.duckdb'}", key_file=str(duckdb_run.key_file))
    try:
        result = dg.materialize([published, report], resources={"carebridge": resource})
    finally:
        resource.dispose()
    assert result.success
    materialised = {m.asset_key: m.metadata for m in result.asset_materializations_for_node("published")}
    assert set(materialised) == {dg.AssetKey(["published", name]) for name in published_specs()}
    checks = {(e.asset_key, e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert all(checks[(dg.AssetKey(["published", name]), f"gx_published_{name}")] for name in published_specs())
    charted = 0
    for name in published_specs():
        metadata = materialised[dg.AssetKey(["published", name])]
        assert metadata["preview"].value.startswith("| "), name  # a markdown table
        chart = metadata.get("chart")
        if chart is not None:  # no chart where every value of the table is suppressed
            png = base64.b64decode(re.fullmatch(r"!\[.*\]\(data:image/png;base64,(.+)\)", chart.value).group(1))
            assert png.startswith(b"\x89PNG"), name
            charted += 1
    assert charted >= 4
    for name in published_specs():  # the data dictionary's descriptions as each table asset's column schema
        columns = materialised[dg.AssetKey(["published", name])]["dagster/column_schema"].value.columns
        assert columns and all(c.description for c in columns), name
    index = result.asset_materializations_for_node("report")[0].metadata["index"].value
    assert index == str(out / "report" / "index.html") and "../data_docs/index.html" in (out / "report" / "index.html").read_text()
