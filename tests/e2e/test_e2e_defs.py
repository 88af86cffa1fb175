"""The whole code location loads (what `dagster dev -m pipelines` does): every asset, check, job,
sensor and schedule resolves; the landing sensor finds new delivery folders."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines import defs
from pipelines.definitions import ASSETS
from pipelines.sensors import new_delivery_months

pytestmark = pytest.mark.e2e


def test_the_code_location_loads_with_every_asset_check_job_sensor_and_schedule():
    repository = defs.get_repository_def()
    repository.load_all_definitions()
    from warehouse.build import MART_ORDER
    from warehouse.catalog.analytics import mart_schema
    from warehouse.publish import published_specs

    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} == {
        "staged_month", "staged", "person_index", "fhir_resources", "fhir_bundles", "fhir_views",
        "work/person_key_map", "work/analytics_exclusions", "reference",
        *(f"{mart_schema(name)}/{name}" for name in MART_ORDER),     # each mart its own asset
        *(f"published/{name}" for name in published_specs()), "data_docs", "report"}
    assert sum(len(a.keys) for a in ASSETS) == len(repository.assets_defs_by_key)
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"row_accounting", "one_person_per_record", "fhir_model_valid", "care_relationship_only"} <= checks
    assert {name.split("_")[1] for name in checks if name.startswith("gx_")} == {
        "staged", "fhir", "analytics", "published"}
    for job in ("monthly_staging", "build"):
        assert defs.resolve_job_def(job).name == job
    build = defs.resolve_job_def("build").asset_layer.executable_asset_keys
    assert dg.AssetKey(["analytics", "person"]) in build and dg.AssetKey("staged_month") not in build
    graph = defs.resolve_asset_graph()       # a mart's dependencies are the tables its SQL reads
    assert dg.AssetKey(["analytics", "person"]) in graph.get(dg.AssetKey(["published", "access_by_place"])).parent_keys
    assert graph.get(dg.AssetKey(["work", "m_person_ref"])).parent_keys >= {
        dg.AssetKey(["work", "person_key_map"]), dg.AssetKey(["work", "analytics_exclusions"])}
    assert dg.AssetKey("fhir_views") in graph.get(dg.AssetKey(["work", "m_contact"])).parent_keys
    assert dg.AssetCheckKey(dg.AssetKey(["analytics", "person"]), "gx_analytics_person") in graph.asset_check_keys
    assert defs.resolve_sensor_def("landing_sensor").job_name == "monthly_staging"
    assert defs.resolve_sensor_def("build_after_staging")
    schedule = defs.resolve_schedule_def("monthly_staging_schedule")
    assert schedule.job_name == "monthly_staging" and schedule.cron_schedule == "0 6 8 * *"
    pools = {key.to_user_string(): defs.resolve_assets_def(key).op.pool for key in defs.resolve_all_asset_keys()}
    assert {name for name, pool in pools.items() if pool is None} == {"staged_month", "data_docs"}
    assert defs.resolve_job_def("build").tags["carebridge/warehouse"] == "write"


def _deliver(landing, source: str, ods: str, month: str, submission: str) -> None:
    folder = landing / source / ods / month / submission
    folder.mkdir(parents=True)
    (folder / "placeholder.csv").write_text("a\n", encoding="utf-8")


def test_new_delivery_months_finds_only_folders_not_seen_before(tmp_path):
    landing = tmp_path / "landing"
    assert new_delivery_months(landing, set()) == ([], set())            # no landing area yet
    _deliver(landing, "gp", "Z90001", "2025-04", "20250503T1015")
    _deliver(landing, "mhsds", "RZZ", "2025-05", "20250604T0900")
    months, seen = new_delivery_months(landing, set())
    assert months == ["2025-04", "2025-05"] and len(seen) == 2
    assert new_delivery_months(landing, seen) == ([], seen)
    _deliver(landing, "vcse", "8ZZ01", "2025-05", "20250605T1100")       # a second delivery for May
    assert new_delivery_months(landing, seen)[0] == ["2025-05"]


def test_the_landing_sensor_requests_a_staging_run_per_new_month(tmp_path):
    from pipelines.resources import CarebridgeResource

    landing = tmp_path / "landing"
    resources = {"carebridge": CarebridgeResource(landing_dir=str(landing), out_dir=str(tmp_path / "out"))}
    sensor = defs.resolve_sensor_def("landing_sensor")
    with dg.instance_for_test() as instance, \
            dg.build_sensor_context(instance=instance, resources=resources) as context:
        assert isinstance(sensor(context), dg.SkipReason)
        _deliver(landing, "talking_therapies", "RZY", "2025-06", "20250704T1200")
        result = sensor(context)
        assert [r.partition_key for r in result.run_requests] == ["2025-06"]
        assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["2025-06"]]
        assert isinstance(sensor(context), dg.SkipReason)                 # the cursor remembers it
