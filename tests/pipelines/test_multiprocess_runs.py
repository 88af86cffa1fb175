"""Every asset, materialised the way a data engineer does from a terminal (`dagster asset
materialize`, then `dg launch --assets` from the project root, each in a subprocess: Dagster's
multiprocess executor, one process per step, forked from a server that imported the project) on a real
instance in a temporary DAGSTER_HOME configured by the project's `pipelines/dagster.yaml`, on
DuckDB and on PostgreSQL, twice over the same output. fhir_bundles and fhir_views both follow
fhir_resources: without the warehouse pool they run at once and one of them dies on DuckDB's file
lock. The months become partitions through a real landing-sensor tick on that instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines import defs
from pipelines.definitions import INSTANCE_CONFIG
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource

pytestmark = pytest.mark.e2e

MONTHS = ("2025-04", "2025-05")


@pytest.fixture(scope="module")
def landing(shared_build) -> Path:
    """Generated once per session, even when xdist gives the two engines to two workers (read-only)."""
    from carebridge.synthetic import generate

    def build(folder: Path) -> None:
        generate(60, folder / "landing", folder / "truth", seed=5, months=MONTHS)

    return shared_build("multiprocess_60_5", build) / "landing"


def _warehouse_steps() -> set[str]:
    graph = defs.resolve_asset_graph()
    # One step per op: a multi-asset (the published tables) is one step, named after its op.
    return {defs.resolve_assets_def(key).op.name for key in graph.get_all_asset_keys()
            if defs.resolve_assets_def(key).op.pool == WAREHOUSE_POOL}


def _intervals(instance: dg.DagsterInstance, run_id: str, pids: dict[str, int] | None = None) -> dict[str, tuple[float, float]]:
    """Each step's (start, end) time; `pids` gets the process each step started in."""
    starts, ends = {}, {}
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry
        if event.dagster_event is None:
            continue
        if event.dagster_event.event_type_value == "STEP_START":
            starts[event.step_key] = event.timestamp
            if pids is not None:
                pids[event.step_key] = event.dagster_event.pid
        elif event.dagster_event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[event.step_key] = event.timestamp
    return {step: (starts[step], ends[step]) for step in starts if step in ends}


ROOT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).parent / "dg"


def _materialize(env: dict, tool: str, select: str, *args: str) -> None:
    """`dagster asset materialize -m pipelines --select ...`, or `dg launch --assets ...` in the
    project (its `[tool.dg]` configuration names the code location)."""
    if tool == "dg":
        command, cwd = [str(DG), "launch", "--assets", select, *args], ROOT
        env = {**env, "VIRTUAL_ENV": sys.prefix, "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])}
    else:
        command, cwd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipelines", "--select", select,
                        *args], None
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_materialising_every_asset_with_the_multiprocess_executor_succeeds_repeatedly(
        engine, landing, warehouse_for, tmp_path, record_property):
    url = warehouse_for(engine, tmp_path) if engine == "postgresql" else ""
    home, out = tmp_path / "dagster_home", tmp_path / "out"
    home.mkdir()
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "CAREBRIDGE_LANDING": str(landing), "CAREBRIDGE_OUT": str(out),
           "CAREBRIDGE_WAREHOUSE_URL": url, "CAREBRIDGE_KEY_FILE": str(tmp_path / "key" / "k.key")}
    resource = CarebridgeResource(landing_dir=str(landing), out_dir=str(out), warehouse_url=url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # The landing sensor's tick adds the delivered months as partitions (the daemon applies them).
        with dg.build_sensor_context(instance=instance, resources={"carebridge": resource}) as context:
            result = defs.resolve_sensor_def("landing_sensor")(context)
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        assert instance.get_dynamic_partitions("delivery_months") == list(MONTHS)
        build = ",".join(sorted(k.to_user_string() for k in defs.resolve_all_asset_keys()) )
        build = ",".join(name for name in build.split(",") if name != "staged_month")
        warehouse_steps = _warehouse_steps()
        assert {"fhir_bundles", "fhir_views", "staged", "report"} <= warehouse_steps
        assert "staged_month" not in warehouse_steps and "data_docs" not in warehouse_steps
        for attempt, tool in ((1, "dagster"), (2, "dg" if DG.exists() else "dagster")):
            _materialize(env, tool, "staged_month", "--partition-range", f"{MONTHS[0]}...{MONTHS[-1]}")
            _materialize(env, tool, build)
            runs = instance.get_run_records(limit=2)            # newest first: the build, then staging
            assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
            staging, built = runs[1].dagster_run, runs[0].dagster_run
            assert staging.tags["dagster/asset_partition_range_start"] == MONTHS[0]
            materialised = instance.fetch_materializations(dg.AssetKey("staged_month"), limit=10).records
            assert {r.partition_key for r in materialised} == set(MONTHS)
            pids: dict[str, int] = {}
            spans = sorted((span, step) for step, span in _intervals(instance, built.run_id, pids).items()
                           if step in warehouse_steps)
            assert {step for _, step in spans} == warehouse_steps      # every warehouse step ran, in its own process
            assert len({pids[step] for step in warehouse_steps}) == len(warehouse_steps), pids
            for (first, a), (second, b) in zip(spans, spans[1:]):
                assert first[1] <= second[0], f"{a} and {b} held the warehouse at the same time"
            record_property(f"figure: multiprocess build on {engine}, attempt {attempt} ({tool}) (s)",
                            round(runs[0].end_time - runs[0].start_time, 1))
    assert (out / "report" / "index.html").exists() and not (out / "fhir" / ".work").exists()
