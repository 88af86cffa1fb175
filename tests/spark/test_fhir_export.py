"""The FHIR export on Spark executors (`map_shard` per person shard) writes the same resources as
the in-process export: byte-identical NDJSON lines per type once ordered, the same reports, and a
Bulk Data manifest that lists every part with its count."""

from __future__ import annotations

import json
from pathlib import Path

from carebridge.spark.fhir import write_fhir_export_spark
from fhir_mapping.export import write_fhir_export

STAMP = "2025-03-31T00:00:00Z"


def _lines_by_type(folder: Path) -> dict[str, list[bytes]]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    lines: dict[str, list[bytes]] = {}
    for item in manifest["output"]:
        got = (folder / item["url"].rsplit("/", 1)[-1]).read_bytes().splitlines()
        assert len(got) == item["count"], item
        lines.setdefault(item["type"], []).extend(got)
    return {rtype: sorted(found) for rtype, found in lines.items()}


def test_spark_export_gives_the_in_process_resources(spark, mapping_inputs, tmp_path):
    inputs = mapping_inputs
    local = write_fhir_export(inputs.staged, inputs.index, inputs.reference, tmp_path / "local", STAMP,
                              shards=3, workers=1)
    on_spark = write_fhir_export_spark(spark, inputs.staged, inputs.index, inputs.reference, tmp_path / "spark", STAMP,
                                       shards=3)
    local_dir, spark_dir = tmp_path / "local" / "fhir" / "ndjson", tmp_path / "spark" / "fhir" / "ndjson"
    manifest = json.loads((spark_dir / "manifest.json").read_text(encoding="utf-8"))
    assert all(item["url"].startswith(("https://", "http://")) for item in manifest["output"])  # absolute (Bulk Data)
    parts = {item["url"].rsplit("/", 1)[-1] for item in manifest["output"]}
    assert parts == {p.name for p in spark_dir.glob("*.ndjson")}           # every part listed, nothing else
    assert len([u for u in parts if u.startswith("Patient.")]) == 3         # one Patient part per shard
    assert manifest["transactionTime"] == STAMP
    assert _lines_by_type(spark_dir) == _lines_by_type(local_dir)
    assert sum(local.counts.values()) > 1000
    assert on_spark.counts == local.counts
    assert on_spark.validation == local.validation
    assert on_spark.profiles == local.profiles
    assert on_spark.unmapped.equals(local.unmapped)
    assert on_spark.warnings == local.warnings
    assert on_spark.referral_matches.equals(local.referral_matches)
    assert not (tmp_path / "spark" / "fhir" / ".work").exists()
