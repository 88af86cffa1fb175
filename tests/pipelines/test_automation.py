"""Sensors and the schedule, evaluated with real contexts on a real (temporary, SQLite) Dagster
instance over a landing area that gains months; the run requests they emit are executed."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pipelines import build_definitions
from pipelines.partitions import MONTHS, add_months, month_ranges
from pipelines.resources import CarebridgeResource
from pipelines.sensors import previous_month

LONDON = ZoneInfo("Europe/London")


def _deliver(landing: Path, source: str, ods: str, month: str, submission: str) -> None:
    folder = landing / source / ods / month / submission
    folder.mkdir(parents=True)
    (folder / "placeholder.csv").write_text("a\n", encoding="utf-8")


def _resource(landing: Path, out: Path) -> CarebridgeResource:
    return CarebridgeResource(landing_dir=str(landing), out_dir=str(out))


def test_previous_month_crosses_the_year():
    assert previous_month(datetime(2026, 12, 8, 6, tzinfo=LONDON)) == "2026-11"
    assert previous_month(datetime(2027, 1, 8, 6, tzinfo=LONDON)) == "2026-12"


def test_the_schedule_on_8_december_stages_november_or_skips_saying_why(tmp_path):
    landing = tmp_path / "landing"
    defs = build_definitions(_resource(landing, tmp_path / "out"))
    schedule = defs.resolve_schedule_def("monthly_staging_schedule")
    assert schedule.cron_schedule == "0 6 8 * *" and schedule.execution_timezone == "Europe/London"
    tick = datetime(2026, 12, 8, 6, 0, tzinfo=LONDON)
    with dg.instance_for_test() as instance:
        _deliver(landing, "gp", "Z90001", "2026-12", "20261207T0900")  # early December data is not due yet
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                       repository_def=defs.get_repository_def(),
                                       resources={"carebridge": _resource(landing, tmp_path / "out")}) as context:
            skipped = schedule.evaluate_tick(context)
        assert not skipped.run_requests and "no deliveries for 2026-11" in skipped.skip_message
        _deliver(landing, "mhsds", "RZZ", "2026-11", "20261205T1000")
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                       repository_def=defs.get_repository_def(),
                                       resources={"carebridge": _resource(landing, tmp_path / "out")}) as context:
            requested = schedule.evaluate_tick(context)
        assert [r.partition_key for r in requested.run_requests] == ["2026-11"]
        assert instance.get_dynamic_partitions(MONTHS.name) == ["2026-11"]


def test_month_ranges_follow_the_instance_partition_order():
    with dg.instance_for_test() as instance:
        add_months(instance, ["2025-05", "2025-06"])
        add_months(instance, ["2025-04", "2025-06"])           # a late-arriving earlier month
        assert instance.get_dynamic_partitions(MONTHS.name) == ["2025-05", "2025-06", "2025-04"]
        assert month_ranges(instance, ["2025-04", "2025-05", "2025-06"]) == [("2025-05", "2025-04")]
        assert month_ranges(instance, ["2025-04", "2025-05"]) == [("2025-05", "2025-05"), ("2025-04", "2025-04")]


@pytest.fixture(scope="module")
def three_months(tmp_path_factory) -> Path:
    from carebridge.synthetic import generate

    folder = tmp_path_factory.mktemp("automation")
    generate(60, folder / "landing", folder / "truth", seed=5, months=("2025-04", "2025-06"))
    return folder / "landing"


def _move_month(src: Path, dst: Path, month: str) -> None:
    for folder in sorted(src.glob(f"*/*/{month}")):
        target = dst / folder.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(target))


@pytest.mark.e2e
def test_sensor_ticks_over_a_landing_area_that_gains_months_and_their_runs_succeed(three_months, tmp_path):
    landing, held_back, out = tmp_path / "landing", tmp_path / "held_back", tmp_path / "out"
    shutil.copytree(three_months, landing)
    _move_month(landing, held_back, "2025-06")                  # June has not arrived yet
    resource = _resource(landing, out)
    defs = build_definitions(resource)
    sensor = defs.resolve_sensor_def("landing_sensor")
    staging = defs.resolve_job_def("monthly_staging")

    def tick(instance, cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"carebridge": resource}) as ctx:
            result = sensor(ctx)
            return result, ctx.cursor

    def execute(instance, result) -> list[dg.ExecuteInProcessResult]:
        for request in result.dynamic_partitions_requests:   # what the daemon does with them
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return [staging.execute_in_process(instance=instance, partition_key=r.partition_key, tags=r.tags)
                for r in result.run_requests]

    with dg.instance_for_test() as instance:
        first, cursor = tick(instance, None)
        assert [r.partition_key for r in first.run_requests] == ["2025-04", "2025-05"]
        assert all(run.success for run in execute(instance, first))
        assert instance.get_dynamic_partitions(MONTHS.name) == ["2025-04", "2025-05"]

        quiet, cursor = tick(instance, cursor)
        assert isinstance(quiet, dg.SkipReason) and "no new deliveries" in quiet.skip_message

        _move_month(held_back, landing, "2025-06")               # June lands
        second, cursor = tick(instance, cursor)
        assert [r.partition_key for r in second.run_requests] == ["2025-06"]
        assert [list(r.partition_keys) for r in second.dynamic_partitions_requests] == [["2025-06"]]
        june = execute(instance, second)
        assert all(run.success for run in june)

        resubmitted = next(landing.glob("gp/*/2025-05/*"))       # a provider resubmits May
        shutil.copytree(resubmitted, resubmitted.with_name("20991231T2359"))
        third, cursor = tick(instance, cursor)
        assert [r.partition_key for r in third.run_requests] == ["2025-05"]
        assert not third.dynamic_partitions_requests             # May is a partition already
        assert third.run_requests[0].run_key != first.run_requests[1].run_key
        may = execute(instance, third)
        assert all(run.success for run in may)

        materialised = instance.fetch_materializations(dg.AssetKey("staged_month"), limit=20).records
        assert sorted(r.partition_key for r in materialised) == ["2025-04", "2025-05", "2025-05", "2025-06"]
        assert sorted(p.name for p in (out / "staging" / "months").iterdir()) == ["2025-04", "2025-05", "2025-06"]

        # The build follows a successful staging run (run status sensor with a real context).
        run = instance.get_run_by_id(may[0].run_id)
        success = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS).records
        with dg.build_run_status_sensor_context(
                sensor_name="build_after_staging", dagster_instance=instance, dagster_run=run,
                dagster_event=success[0].event_log_entry.dagster_event) as context:
            request = defs.resolve_sensor_def("build_after_staging")(context)
        assert isinstance(request, dg.RunRequest)
        built = defs.resolve_job_def("build").execute_in_process(instance=instance, tags=request.tags)
        assert built.success
        staged = instance.fetch_materializations(dg.AssetKey("staged"), limit=1).records[0]
        assert staged.asset_materialization.metadata["months"].value == "2025-04, 2025-05, 2025-06"


def test_a_backfill_of_months_is_one_run_with_accounting_per_month(three_months, tmp_path):
    out = tmp_path / "out"
    defs = build_definitions(_resource(three_months, out))
    assets = defs.resolve_assets_def("staged_month")
    assert assets.backfill_policy == dg.BackfillPolicy.single_run()
    with dg.instance_for_test() as instance:
        add_months(instance, ["2025-04", "2025-05", "2025-06", "2025-07"])  # July: a month with no files
        result = defs.resolve_job_def("monthly_staging").execute_in_process(
            instance=instance, tags={"dagster/asset_partition_range_start": "2025-04",
                                     "dagster/asset_partition_range_end": "2025-07"})
        assert result.success
        records = instance.fetch_materializations(dg.AssetKey("staged_month"), limit=10).records
        assert sorted(r.partition_key for r in records) == ["2025-04", "2025-05", "2025-06", "2025-07"]
        assert len({r.run_id for r in records}) == 1                 # one run
        metadata = records[0].asset_materialization.metadata
        table = metadata["by_month"].value
        for month in ("2025-04", "2025-05", "2025-06", "2025-07"):
            assert f"| {month} |" in table
        assert metadata["months_without_files"].value == "2025-07"
        assert "| 2025-07 | 0 | 0 | 0 |" in table
