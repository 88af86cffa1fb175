"""The incremental FHIR export and bundles (fhir_mapping.export.ShardStore, write_bundles_from_ndjson
with `previous`): shards whose inputs are unchanged are not mapped again, organisation-months whose
content is unchanged are not rewritten, and the files are byte-identical to a full write of the same
inputs, whatever changed in between."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from fhir_mapping import care_relationships
from fhir_mapping.bundles import write_bundles_from_ndjson
from fhir_mapping.export import ShardStore, write_fhir_export

STAMP = "2025-03-31T00:00:00Z"
SHARDS = 8


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _full(staged, index, reference, out: Path) -> dict[str, bytes]:
    """What a build from scratch writes: every shard mapped, every bundle written."""
    write_fhir_export(staged, index, reference, out, STAMP, shards=SHARDS, workers=1)
    write_bundles_from_ndjson(out / "fhir" / "ndjson", care_relationships(staged, index), out, timestamp=STAMP)
    return _files(out / "fhir" / "ndjson") | {f"bundles/{k}": v for k, v in _files(out / "fhir" / "bundles").items()}


def _incremental(staged, index, reference, out: Path, shard_digests: dict, bundle_digests: dict):
    store = ShardStore(out / "fhir" / ".shards", shard_digests, salt="code")
    export = write_fhir_export(staged, index, reference, out, STAMP, shards=SHARDS, workers=1, store=store)
    bundles = write_bundles_from_ndjson(out / "fhir" / "ndjson", care_relationships(staged, index), out,
                                        timestamp=STAMP, previous=bundle_digests, salt="code")
    files = _files(out / "fhir" / "ndjson") | {f"bundles/{k}": v for k, v in _files(out / "fhir" / "bundles").items()}
    return export, bundles, files


def _without(staged, key: str, column: str, value: str):
    table = staged[key]
    return {**staged, key: table.filter(pc.not_equal(table[column], value))}


def test_unchanged_shards_are_reused_and_the_files_equal_a_full_build(staged, index, reference, tmp_path):
    out = tmp_path / "incremental"
    first, bundles, files = _incremental(staged, index, reference, out, {}, {})
    assert first.shards_reused == 0 and len(first.shard_digests) == SHARDS and bundles.written == len(bundles.digests)
    assert files == _full(staged, index, reference, tmp_path / "full")

    again, same, files = _incremental(staged, index, reference, out, first.shard_digests, bundles.digests)
    assert again.shards_reused == SHARDS and again.shard_digests == first.shard_digests
    assert same.written == 0 and same.digests == bundles.digests
    assert files == _full(staged, index, reference, tmp_path / "full_again")
    assert again.counts == first.counts and again.unmapped.equals(first.unmapped)
    assert again.validation == first.validation and again.profiles == first.profiles

    # A trust's care contact withdrawn: one person's shard changes, and the GP's bundle of that month.
    changed = _without(staged, "mhsds.MHS201CareContact", "CareContactId", "C2")
    after, rewritten, files = _incremental(changed, index, reference, out, again.shard_digests, same.digests)
    assert after.shards_reused == SHARDS - 1
    assert 0 < rewritten.written < len(rewritten.digests)
    assert files == _full(changed, index, reference, tmp_path / "full_changed")
    assert not (out / "fhir" / ".work").exists()


def test_a_kept_shard_whose_report_is_missing_is_mapped_again(staged, index, reference, tmp_path):
    out = tmp_path / "incremental"
    first, bundles, _ = _incremental(staged, index, reference, out, {}, {})
    for report in sorted((out / "fhir" / ".shards").glob("*/shard.json"))[:1]:
        report.unlink()
    again, _, files = _incremental(staged, index, reference, out, first.shard_digests, bundles.digests)
    assert again.shards_reused == SHARDS - 1
    assert files == _full(staged, index, reference, tmp_path / "full")
