"""The batched FHIR export on Spark: `fhir_mapping.export.map_shard` run on the executors.

The same steps as `fhir_mapping.export.write_fhir_export`, with the same functions:
1. the driver splits the inputs by person (`shards.split_inputs`) and writes each shard's inputs
   to `<out>/fhir/.work/export/inputs/<shard>.pickle`, one shard in memory at a time;
2. one Spark task per shard id loads its inputs and runs `map_shard` (map, validate, profile-check,
   write sorted part files), returning the shard's `ShardOutput` (counts, failures, unmapped rows);
3. the driver maps Organizations and HealthcareServices once from what every shard referenced;
4. one Spark task per part turns it into `fhir/ndjson/<Type>.<part>.ndjson` (in id order), and the
   Bulk Data manifest lists every part; or, with `partitioned=False`, the driver merges the parts
   into one `<Type>.ndjson` per type, byte for byte what the in-process export writes.
The validation and profile reports equal those of `write_fhir_export`.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from carebridge.core.layout import OutputLayout
from fhir_mapping.context import PersonIndexLike, ReferenceLike
from fhir_mapping.export import (
    FhirExport,
    ShardOutput,
    check_and_write,
    merge_all,
    part_path,
    reference_resources,
    remove_work,
    total_of,
    export_result,
    map_shard,
)
from fhir_mapping.ndjson import manifest_parts, merge_parts, ndjson_folder, write_manifest, write_parts_manifest
from fhir_mapping.shards import shard_count, split_inputs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["write_fhir_export_spark"]

REFERENCE_PART = "reference"


def _inputs_path(work: Path, shard: int) -> Path:
    return work / "inputs" / f"{shard:05d}.pickle"


def _run_shard(work: str, shard: int, strict: bool) -> ShardOutput:
    """On an executor: one shard's inputs from the shared work folder, mapped by `map_shard`."""
    # the inputs file stays until the export ends, so a retried task (a lost executor) finds it
    with open(_inputs_path(Path(work), shard), "rb") as fh:
        task = pickle.load(fh)
    return map_shard(task, Path(work), strict)


def _publish_part(work: str, folder: str, name: str, types: list[str],
                  watch: frozenset[str]) -> tuple[dict[str, tuple[str, int]], set[str]]:
    """On an executor: a part's per-type files as final NDJSON; (type -> (url, count), watched keys found)."""
    written, found = {}, set()
    for rtype in types:
        part = part_path(Path(work), name, rtype)
        if not part.exists():
            continue
        url = f"{rtype}.{name}.ndjson"
        ids = frozenset(key.split("/", 1)[1] for key in watch if key.startswith(f"{rtype}/"))
        n, seen = merge_parts([part], Path(folder) / url, ids)
        written[rtype] = (url, n)
        found |= {f"{rtype}/{i}" for i in seen}
    return written, found


def _write_inputs(split: Any, work: Path) -> None:
    for i in range(split.shards):
        path = _inputs_path(work, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump(split.shard(i), fh, protocol=pickle.HIGHEST_PROTOCOL)


def write_fhir_export_spark(spark: SparkSession, staged: dict[str, pa.Table], person_index: PersonIndexLike,
                            reference: ReferenceLike, out_dir: Path, transaction_time: str, *,
                            shards: int | None = None, strict: bool = False,
                            partitioned: bool = True) -> FhirExport:
    """`write_fhir_export` with the shards mapped on Spark's executors (one task per shard)."""
    sc = spark.sparkContext
    k = shards or shard_count(person_index.persons.num_rows, sc.defaultParallelism)
    split = split_inputs(staged, person_index, reference, k)
    work = OutputLayout(Path(out_dir)).fhir_work("export")
    shutil.rmtree(work, ignore_errors=True)
    _write_inputs(split, work)
    work_s = str(work)
    outputs = sorted(sc.parallelize(range(k), k).map(lambda i: _run_shard(work_s, i, strict)).collect(),
                     key=lambda o: o.shard)
    references, reference_warnings = reference_resources(split, outputs)
    total = total_of([o.checked for o in outputs]
                   + [check_and_write(references, work, REFERENCE_PART, strict)])
    folder = ndjson_folder(out_dir)
    names = [f"{o.shard:05d}" for o in outputs] + [REFERENCE_PART]
    if partitioned:
        types, watch, folder_s = sorted(total.counts), frozenset(total.elsewhere), str(folder)
        published = (sc.parallelize(names, len(names))
                     .map(lambda name: _publish_part(work_s, folder_s, name, types, watch)).collect())
        found = set().union(*(f for _, f in published))
        parts = [(rtype, url, n) for written, _ in published for rtype, (url, n) in written.items()]
        manifest = write_parts_manifest(folder, parts, transaction_time)
    else:
        found = merge_all(work, folder, names, total.counts, total.elsewhere)
        manifest = write_manifest(folder, total.counts, transaction_time)
    remove_work(work)
    return export_result(split, outputs, total, reference_warnings, found,
                         {rtype: list(paths) for rtype, (paths, _) in manifest_parts(folder).items()}, manifest, k)
