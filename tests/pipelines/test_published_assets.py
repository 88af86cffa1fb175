"""The `published` and `report` assets, materialised by Dagster over a copy of a finished run's
warehouse: each published table carries a markdown preview and a small chart in its metadata, and
the report asset writes the static report."""

from __future__ import annotations

import base64
import re
import shutil

import dagster as dg

from pipelines.resources import CarebridgeResource, dispose_engines
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
        dispose_engines()
    assert result.success
    metadata = result.asset_materializations_for_node("published")[0].metadata
    charted = 0
    for name in published_specs():
        assert metadata[f"preview_{name}"].value.startswith("| "), name  # a markdown table
        chart = metadata.get(f"chart_{name}")
        if chart is not None:  # no chart where every value of the table is suppressed
            png = base64.b64decode(re.fullmatch(r"!\[.*\]\(data:image/png;base64,(.+)\)", chart.value).group(1))
            assert png.startswith(b"\x89PNG"), name
            charted += 1
    assert charted >= 4
    for name in published_specs():  # the data dictionary's descriptions as Dagster column schemas
        columns = metadata[f"columns_{name}"].value.columns
        assert columns and all(c.description for c in columns), name
    assert "Moves between settings" in metadata["tables"].value
    index = result.asset_materializations_for_node("report")[0].metadata["index"].value
    assert index == str(out / "report" / "index.html") and "../data_docs/index.html" in (out / "report" / "index.html").read_text()
