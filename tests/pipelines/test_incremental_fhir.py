"""Incremental FHIR in real Dagster runs (carebridge.runner, DuckDB warehouse): after a resubmission
that deletes a record, and after a late-arriving month, fhir_resources maps only the person shards
whose records changed and fhir_bundles rewrites only the organisation-months whose content changed;
the NDJSON, the bundles (retractions aside: only a run that follows another has any) and the tables
equal a full build from scratch over the same landing area."""

from __future__ import annotations

import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_incremental import _comparable, _deliver, _hold_back, _latest, _run, _unchanged  # noqa: E402

from fhir_mapping.shards import sharding_rules
from pipelines.definitions import INSTANCE_CONFIG

pytestmark = pytest.mark.e2e

MONTHS = ("2025-04", "2025-07")


def _resubmit_without_a_record(landing: Path, month: str) -> None:
    """A later submission of the smallest delivery of `month` (a provider caring for few people), the
    same files but the last row of its largest file withdrawn (a deletion). Its id stays below the
    next month's deliveries', so the export's transaction time is kept."""
    deliveries = [d for d in landing.glob(f"*/*/{month}/*") if d.name == max(p.name for p in d.parent.iterdir())
                  and list(d.glob("*.csv")) and len(_rows(_largest(d))) > 2]  # the current CSV submissions
    first = min(deliveries, key=lambda d: (sum(f.stat().st_size for f in d.iterdir()), str(d)))
    later = first.parent / (datetime.strptime(first.name, "%Y%m%dT%H%M") + timedelta(days=1)).strftime("%Y%m%dT%H%M")
    shutil.copytree(first, later)
    path = _largest(later)          # bytes, not text: a delivery may be in any encoding
    path.write_bytes(b"\n".join(_rows(path)[:-1]) + b"\n")


def _largest(delivery: Path) -> Path:
    return max(delivery.glob("*.csv"), key=lambda f: (f.stat().st_size, f.name))


def _rows(path: Path) -> list[bytes]:
    return path.read_bytes().rstrip(b"\r\n").split(b"\n")


def _bundles(out: Path) -> dict[str, bytes]:
    folder = out / "fhir" / "bundles"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.json"))
            if "retractions" not in p.parts}


def _value(instance: dg.DagsterInstance, asset: str, name: str) -> int:
    return int(_latest(instance, dg.AssetKey(asset))[name].value)


def test_fhir_rewrites_only_changed_shards_and_bundles_and_equals_a_full_build(tmp_path, monkeypatch):
    from carebridge.synthetic import generate

    landing, aside, key = tmp_path / "landing", tmp_path / "late", tmp_path / "key" / "k.key"
    generate(150, landing, tmp_path / "truth", seed=11, months=MONTHS, fault_rate=0.05)
    _hold_back(landing, MONTHS[-1], aside)
    monkeypatch.setitem(sharding_rules(), "persons_per_shard", 10)      # 15 shards at 150 people
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    incremental = tmp_path / "incremental"

    _run(landing, incremental, key)
    _run(landing, incremental, key)                                     # nothing new
    with dg.DagsterInstance.get() as instance:
        assert _unchanged(instance, dg.AssetKey("fhir_resources")) and _unchanged(instance, dg.AssetKey("fhir_bundles"))
        shards = _value(instance, "fhir_resources", "shards")
        assert shards > 2 and _value(instance, "fhir_bundles", "organisation_months") > 0

    # A resubmission changes the lineage (submission, file, line) of every row it carries, so the
    # shards of everyone the provider delivered about change; the others are kept.
    _resubmit_without_a_record(landing, "2025-04")
    _run(landing, incremental, key)
    with dg.DagsterInstance.get() as instance:
        assert not _unchanged(instance, dg.AssetKey("fhir_resources"))
        assert 0 < _value(instance, "fhir_resources", "shards_mapped") < shards
        assert 0 <= _value(instance, "fhir_bundles", "organisation_months_written") < _value(
            instance, "fhir_bundles", "organisation_months")

    _deliver(aside, landing)                                            # the late month arrives
    _run(landing, incremental, key)
    with dg.DagsterInstance.get() as instance:
        assert 0 < _value(instance, "fhir_resources", "shards_mapped") <= shards

    monkeypatch.delenv("DAGSTER_HOME")
    scratch = tmp_path / "scratch"
    _run(landing, scratch, key)                                         # a full build from scratch
    built, expected = _comparable(incremental), _comparable(scratch)
    assert built["ndjson"] == expected["ndjson"]
    assert _bundles(scratch) and _bundles(incremental) == _bundles(scratch)
    assert built["person_ids"] == expected["person_ids"]
    assert sorted(t for t in expected["tables"] if built["tables"].get(t) != expected["tables"][t]) == []
    assert set(built["tables"]) == set(expected["tables"])
