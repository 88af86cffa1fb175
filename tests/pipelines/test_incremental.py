"""Incremental builds (pipelines.incremental): a re-run with nothing new does no work in the gated
stages and says `unchanged`; a late-arriving month rebuilds what it touches; and the warehouse and
FHIR export after those runs equal a full build from scratch over the same landing area. Real
Dagster runs in process (carebridge.runner) on a real instance, DuckDB warehouse."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))  # the e2e snapshot helpers
from e2e_snapshot import file_digests, is_append_only, table_digests  # noqa: E402

from carebridge.runner import run_pipeline
from pipelines.definitions import INSTANCE_CONFIG

pytestmark = pytest.mark.e2e

MONTHS = ("2025-04", "2025-05", "2025-06")
GATED = ("staged", "person_index", "fhir_views", "published", "data_docs", "report")


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict:
    return instance.fetch_materializations(key, limit=1).records[0].asset_materialization.metadata


def _unchanged(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    value = _latest(instance, key).get("unchanged")
    return bool(value is not None and value.value)


def _hold_back(landing: Path, month: str, aside: Path) -> None:
    """Move every delivery of `month` out of the landing area (it arrives late)."""
    for folder in sorted(landing.glob(f"*/*/{month}")):
        target = aside / folder.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(target))


def _deliver(aside: Path, landing: Path) -> None:
    for folder in sorted(aside.glob("*/*/*")):
        shutil.move(str(folder), str(landing / folder.relative_to(aside)))


def _run(landing: Path, out: Path, key: Path, lines: list[str] | None = None) -> float:
    started = time.monotonic()
    run_pipeline(landing, out, key_file=key, reporter=(lines.append if lines is not None else lambda line: None))
    return time.monotonic() - started


def _comparable(out: Path) -> dict:
    """Every table but the run logs and the fingerprints, and the NDJSON export. The person id map
    without the runs that first and last saw each id (history an incremental build has and a
    build from scratch has not): the person ids themselves must be the same."""
    tables = {t: d for t, d in table_digests(out / "warehouse.duckdb").items()
              if not is_append_only(t) and t not in ("audit.stage_fingerprint", "linkage.person_id_map")}
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        ids = con.sql("SELECT * EXCLUDE (first_seen_run, last_seen_run) FROM linkage.person_id_map ORDER BY ALL").fetchall()
    finally:
        con.close()
    return {"tables": tables, "person_ids": ids, "ndjson": file_digests(out / "fhir" / "ndjson")}


def test_a_rerun_with_nothing_new_is_unchanged_and_a_late_month_equals_a_full_build(tmp_path, monkeypatch,
                                                                                    record_property):
    from carebridge.synthetic import generate

    landing, aside, key = tmp_path / "landing", tmp_path / "late", tmp_path / "key" / "k.key"
    generate(60, landing, tmp_path / "truth", seed=5, months=(MONTHS[0], MONTHS[-1]))
    _hold_back(landing, MONTHS[-1], aside)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    incremental = tmp_path / "incremental"

    full, rerun = [], []
    full_seconds = _run(landing, incremental, key, full)
    rerun_seconds = _run(landing, incremental, key, rerun)              # nothing new
    record_property("figure: 60 people, full build / re-run with nothing new (s)",
                    f"{full_seconds:.1f} / {rerun_seconds:.1f}")
    record_property("figure: progress of the full build", " | ".join(full))
    record_property("figure: progress of the re-run with nothing new", " | ".join(rerun))
    with dg.DagsterInstance.get() as instance:
        for stage in GATED:
            keys = [k for k in instance.get_asset_keys() if k.path[0] == stage]
            assert keys and all(_unchanged(instance, k) for k in keys), stage
        assert _unchanged(instance, dg.AssetKey(["analytics", "person"]))
        assert _latest(instance, dg.AssetKey("staged_month"))["months_unchanged"].value == ", ".join(MONTHS[:2])

    _deliver(aside, landing)                                            # the late month arrives
    _run(landing, incremental, key)
    with dg.DagsterInstance.get() as instance:
        assert _latest(instance, dg.AssetKey("staged_month"))["months_unchanged"].value == ", ".join(MONTHS[:2])
        for stage in ("staged", "person_index", "fhir_views"):
            assert not _unchanged(instance, dg.AssetKey(stage)), stage
        assert not _unchanged(instance, dg.AssetKey(["analytics", "person"]))

    monkeypatch.delenv("DAGSTER_HOME")
    scratch = tmp_path / "scratch"
    _run(landing, scratch, key)                                         # a full build from scratch
    built, expected = _comparable(incremental), _comparable(scratch)
    assert built["ndjson"] == expected["ndjson"]
    assert built["person_ids"] == expected["person_ids"]
    assert set(built["tables"]) == set(expected["tables"])
    assert sorted(t for t in expected["tables"] if built["tables"][t] != expected["tables"][t]) == []
