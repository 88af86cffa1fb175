"""The views benchmark (benchmarks/views.py) on a tiny system: every project view measured on every
engine over the same data, the engines agree, and the report holds the figures it promises."""

from __future__ import annotations

import json

from carebridge.benchmarks.views import print_report, run
from warehouse.views_runner import view_definitions


def test_views_benchmark_measures_every_view_on_every_engine(tmp_path, capsys):
    result = run(40, tmp_path / "bench", seed=3, fhirpathpy_sample=None)
    assert json.loads((tmp_path / "bench" / "bench_views.json").read_text()) == result
    assert set(result["views"]) == set(view_definitions())
    assert result["interpreters_parse_json"] and result["machine"]["duckdb_threads"] >= 1
    assert set(result["load_average_1_5_15_min"]) == {"before", "after"}
    for name, view in result["views"].items():
        compiled, engines = view["compiled_duckdb"], view["engines"]
        assert len(view["load_average_1min"]) == 2
        # No sample: the interpreters saw every resource, so all engines give the same row count.
        assert view["sample_resources"] == view["resources"]
        assert compiled["rows"] == engines["reference"]["rows"] == engines["fhirpathpy"]["rows"], name
        assert engines["duckdb"]["agrees_with_reference"] and engines["fhirpathpy"]["agrees_with_reference"], name
        assert compiled["load_seconds"] > 0 and compiled["load_cpu_seconds"] >= 0
        # Including the load can only lower the rate.
        assert compiled["rows_per_second"] >= compiled["rows_per_second_with_load"] > 0, name
        speedup = view["speedup"]
        assert speedup["vs_fhirpathpy"] >= speedup["vs_fhirpathpy_with_load"] > 0, name
    totals = result["totals"]
    compiled = totals["compiled_duckdb"]
    assert compiled["rows"] == sum(v["compiled_duckdb"]["rows"] for v in result["views"].values())
    # Each resource type is loaded once in the totals, however many views read it.
    loaded = {v["resource"]: v["compiled_duckdb"]["load_seconds"] for v in result["views"].values()}
    assert abs(compiled["load_seconds"] - sum(loaded.values())) < 0.01
    assert totals["fhirpathpy"]["rows"] == compiled["rows"] and totals["fhirpathpy"]["rows_per_second"] > 0
    assert totals["speedup"]["vs_fhirpathpy"] >= totals["speedup"]["vs_fhirpathpy_with_load"] > 0
    print_report(result)
    out = capsys.readouterr().out
    assert "faster than fhirpathpy" in out and "json.loads" in out and "load average" in out
