"""The views benchmark (benchmarks/views.py) on a tiny system: every project view measured on every
engine over the same data, the engines agree, and the report holds the figures it promises."""

from __future__ import annotations

import json

from benchmarks.views import print_report, run
from warehouse.views_runner import view_definitions


def test_views_benchmark_measures_every_view_on_every_engine(tmp_path, capsys):
    result = run(40, tmp_path / "bench", seed=3, fhirpathpy_sample=None)
    assert json.loads((tmp_path / "bench" / "bench_views.json").read_text()) == result
    assert set(result["views"]) == set(view_definitions())
    for name, view in result["views"].items():
        compiled, engines = view["compiled_duckdb"], view["engines"]
        # No sample: the interpreters saw every resource, so all engines give the same row count.
        assert view["sample_resources"] == view["resources"]
        assert compiled["rows"] == engines["reference"]["rows"] == engines["fhirpathpy"]["rows"], name
        assert engines["duckdb"]["agrees_with_reference"] and engines["fhirpathpy"]["agrees_with_reference"], name
        assert compiled["rows_per_second"] and compiled["load_seconds"] >= 0
    totals = result["totals"]
    assert totals["compiled_duckdb"] > 0 and totals["fhirpathpy"] > 0 and totals["speedup_vs_fhirpathpy"] > 0
    print_report(result)
    assert "faster than fhirpathpy" in capsys.readouterr().out
