"""The batched FHIR export: map, validate and write `fhir/ndjson/` shard by shard of people.

Gives exactly what `map_resources` + `validate_resources` + `write_ndjson` give (the same bytes,
whatever the number of shards), with memory bounded by the shard size instead of the population:
1. `shards.split_inputs` deduplicates, matches referrals and splits the inputs by person into
   Arrow IPC files under the work folder (the parent keeps no by-shard copy in memory);
2. each shard is mapped (`mapping.map_records`), validated (`validation.validate_chunk`: compiled,
   or the R4B models when `strict`), checked
   against the UK Core rules (`profile_batches`) and written as sorted part files, in `workers`
   processes (each holds one shard at a time);
3. Organizations and HealthcareServices are mapped once, from what every shard referenced;
4. each type's parts are merged into `<Type>.ndjson` in id order, and the manifest written.
Part files live in `<out>/fhir/.work/export/` and are removed at the end. The validation and
profile reports equal `validate_resources` and `check_profiles` over the whole output.

Incremental (a `ShardStore`): each shard's parts and report are kept in the store's folder with the
digest of the shard's inputs (`shards.shard_digest`); a shard whose digest equals the one recorded
for it is not mapped again, its kept parts are merged as they are. The merge is the same either
way, so the NDJSON is byte-identical to an export that maps every shard.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import json
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from carebridge.core.layout import OutputLayout
from fhir_mapping.context import MappingContext, PersonIndexLike, ReferenceLike, build_context, sql_name
from fhir_mapping.mapping import map_records, merged_warnings, sorted_unmapped
from fhir_mapping.ndjson import merge_parts, ndjson_folder, write_manifest, write_part
from fhir_mapping.organization import map_healthcare_services, map_organizations
from fhir_mapping.profile_batches import check_shard, profile_report, recheck_references, unresolved
from fhir_mapping.profiles import ProfileReport
from fhir_mapping.referrals import build_referrals
from fhir_mapping.shards import ShardInput, SplitInputs, shard_count, shard_digest, split_inputs
from fhir_mapping.validation import ValidationReport, validate_chunk

__all__ = ["FhirExport", "ShardOutput", "write_fhir_export", "map_shard", "without_cycle_collector",
           # the steps `write_fhir_export` is made of, also run by the Spark export (carebridge.spark.fhir)
           "part_path", "check_and_write", "reference_resources", "merge_all", "remove_work", "total_of",
           "export_result", "ShardStore"]

Services = dict[tuple[str, str], str | None]


@dataclass(frozen=True)
class FhirExport:
    counts: dict[str, int]          # resource type -> resources written
    validation: ValidationReport
    profiles: ProfileReport
    unmapped: pa.Table              # UNMAPPED_SCHEMA
    warnings: list[str]
    referral_matches: pa.Table      # MATCH_SCHEMA
    manifest: Path
    shards: int
    shard_digests: dict[int, str] = field(default_factory=dict)   # with a ShardStore: what each shard was mapped from
    shards_reused: int = 0                                          # ... and how many were not mapped again


@dataclass(frozen=True)
class ShardStore:
    """Where an incremental export keeps each shard's parts and report between runs (`folder`),
    the digests they were mapped from (`previous`, as recorded by the caller), and what else the
    mapping depends on (`salt`: reference data, code version)."""
    folder: Path
    previous: dict[int, str]
    salt: str = ""


@dataclass(frozen=True)
class Checked:
    """What a batch of resources gave: counts written, R4B and profile failures."""
    counts: dict[str, int]
    checked: int
    failures: list[dict[str, str]]
    profile_failures: list[dict[str, str]]
    elsewhere: set[str]             # references to resources outside the batch


@dataclass(frozen=True)
class ShardOutput:
    shard: int
    checked: Checked
    unmapped: pa.Table
    warnings: list[str]
    organisations_used: set[str]
    services_used: Services


def part_path(work: Path, name: str, rtype: str) -> Path:
    return work / name / f"{rtype}.part"


def check_and_write(resources: dict[str, list[dict[str, Any]]], work: Path, name: str,
                     strict: bool = False) -> Checked:
    """Validate and profile-check resources and write them as part files."""
    failures = validate_chunk([r for rtype in sorted(resources) for r in resources[rtype]], strict)
    profiles = check_shard(resources)
    counts = {rtype: write_part(items, part_path(work, name, rtype)) for rtype, items in resources.items() if items}
    return Checked(counts=counts, checked=profiles.checked, failures=failures, profile_failures=profiles.failures,
                   elsewhere=profiles.elsewhere)


@contextmanager
def without_cycle_collector() -> Iterator[None]:
    """The cyclic garbage collector paused: mapping allocates millions of small dicts and lists and
    keeps a shard's resources alive, so every collection would walk them all again (it doubles the
    mapping's CPU time). They hold no reference cycles; reference counting frees them. One
    collection at the end picks up anything cyclic made meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()


def map_shard(task: ShardInput, work: Path, strict: bool = False) -> ShardOutput:
    """Map, validate and write one shard (runs in a worker process, or a Spark executor)."""
    with without_cycle_collector():
        return _map_shard(task, work, strict)


def _map_shard(task: ShardInput, work: Path, strict: bool) -> ShardOutput:
    ctx = build_context(task.staged, task.index, task.reference)
    referrals = build_referrals(ctx)
    resources = map_records(ctx, referrals, task.matches)
    ctx.con.close()
    home = set(task.home_persons.to_pylist())
    resources["Patient"] = [p for p in resources["Patient"] if p["id"] in home]
    checked = check_and_write(resources, work, f"{task.shard:05d}", strict)
    return ShardOutput(shard=task.shard, checked=checked, unmapped=sorted_unmapped(ctx.unmapped), warnings=ctx.warnings,
                       organisations_used=ctx.organisations_used, services_used=ctx.services_used)


def _in_process(tasks: Iterable[ShardInput], work: Path, strict: bool) -> Iterator[ShardOutput]:
    for task in tasks:
        yield map_shard(task, work, strict)


def _in_pool(tasks: Iterable[ShardInput], work: Path, workers: int, strict: bool) -> Iterator[ShardOutput]:
    """Shards in `workers` processes, at most one shard per worker in flight (bounded memory)."""
    # spawn, not fork: the caller may hold DuckDB or Dagster threads that a fork would copy mid-flight.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: set[Future[ShardOutput]] = set()
        for task in tasks:
            if len(pending) >= workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
            pending.add(pool.submit(map_shard, task, work, strict))
        for future in pending:
            yield future.result()


def merged_services(over_all: Services, per_shard: list[Services]) -> Services:
    """The services the records reference, with the setting the first referencing record implies.

    `over_all` comes from the referrals of the whole population, in the order `map_resources`
    reads them, so its settings are the ones a single pass finds first; a shard can only add
    services no referral names, or a setting where the referrals imply none (a GP appointment's
    `primary`)."""
    merged = dict(over_all)
    for used in per_shard:
        for key, setting in used.items():
            if merged.get(key) is None:
                merged[key] = setting
    return merged


def reference_resources(split: SplitInputs, outputs: list[ShardOutput]) -> tuple[dict[str, list], list[str]]:
    """Organizations and HealthcareServices of everything the shards referenced; (resources, warnings)."""
    ctx = MappingContext(con=duckdb.connect(), reference=split.reference)
    for key, rows in split.staged.items():
        ctx.register(sql_name(key), rows.table)
    ctx.organisations_used = set(split.organisations_used).union(*(o.organisations_used for o in outputs))
    ctx.services_used = merged_services(split.services_used, [o.services_used for o in outputs])
    resources = {"Organization": map_organizations(ctx), "HealthcareService": map_healthcare_services(ctx)}
    ctx.con.close()
    return resources, ctx.warnings


def merge_all(work: Path, folder: Path, names: list[str], counts: dict[str, int],
               watch: set[str]) -> set[str]:
    """Merge every type's parts of the batches `names` under `work` (the Spark export's form)."""
    return _merge_batches([work / name for name in names], folder, counts, watch)


def _merge_batches(batches: list[Path], folder: Path, counts: dict[str, int], watch: set[str]) -> set[str]:
    """Merge every type's parts (one folder per batch) into its NDJSON file; returns which `Type/id`
    keys of `watch` were written."""
    found: set[str] = set()
    for rtype in sorted(counts):
        parts = [p for p in (part_path(batch.parent, batch.name, rtype) for batch in batches) if p.exists()]
        ids = frozenset(key.split("/", 1)[1] for key in watch if key.startswith(f"{rtype}/"))
        found |= {f"{rtype}/{i}" for i in merge_parts(parts, folder / f"{rtype}.ndjson", ids)[1]}
    return found


def remove_work(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    if work.parent.exists() and not any(work.parent.iterdir()):
        work.parent.rmdir()


def total_of(batches: list[Checked]) -> Checked:
    counts: dict[str, int] = {}
    for batch in batches:
        for rtype, n in batch.counts.items():
            counts[rtype] = counts.get(rtype, 0) + n
    return Checked(counts=dict(sorted(counts.items())), checked=sum(b.checked for b in batches),
                   failures=[f for b in batches for f in b.failures],
                   profile_failures=[f for b in batches for f in b.profile_failures],
                   elsewhere=set().union(*(b.elsewhere for b in batches)))


def write_fhir_export(staged: dict[str, pa.Table], person_index: PersonIndexLike, reference: ReferenceLike,
                      out_dir: Path, transaction_time: str, *, shards: int | None = None,
                      workers: int = 2, strict: bool = False, store: ShardStore | None = None) -> FhirExport:
    """Map every staged row to FHIR, validate, check and write `fhir/ndjson/` in shards of people.

    `strict` validates every resource with the fhir.resources R4B models instead of the compiled
    validator (slower; the same report shape). With a `store`, shards whose inputs are unchanged
    since the store's digests are not mapped again (module docstring)."""
    k = shards or shard_count(person_index.persons.num_rows, workers)
    work = OutputLayout(Path(out_dir)).fhir_work("export")
    shutil.rmtree(work, ignore_errors=True)
    split = split_inputs(staged, person_index, reference, k, work / "inputs")
    kept = _Kept(store, k, strict) if store is not None else None
    tasks = kept.fresh(split) if kept is not None else iter(split)
    parts = kept.store.folder if kept is not None else work
    runs = (_in_pool(tasks, parts, min(workers, k), strict) if workers > 1 and k > 1
            else _in_process(tasks, parts, strict))
    mapped = [kept.keep(o) for o in runs] if kept is not None else list(runs)
    outputs = sorted(mapped + (kept.reused if kept is not None else []), key=lambda o: o.shard)
    references, reference_warnings = reference_resources(split, outputs)
    total = total_of([o.checked for o in outputs] + [check_and_write(references, work, "reference", strict)])
    folder = ndjson_folder(out_dir)
    found = _merge_batches([parts / f"{o.shard:05d}" for o in outputs] + [work / "reference"], folder, total.counts,
                       total.elsewhere)
    remove_work(work)
    manifest = write_manifest(folder, total.counts, transaction_time)
    result = export_result(split, outputs, total, reference_warnings, found,
                           {rtype: [folder / f"{rtype}.ndjson"] for rtype in total.counts}, manifest, k)
    if kept is None:
        return result
    return dataclasses.replace(result, shard_digests=dict(sorted(kept.digests.items())), shards_reused=len(kept.reused))


_KEPT_REPORT = "shard.json"       # a kept shard's report (ShardOutput) and the digest it was mapped from
_KEPT_UNMAPPED = "unmapped.arrow"  # ... and its unmapped rows
# JSON and Arrow, never pickle: the store lies in the output folder, and loading a pickle runs code.


def _save_kept(folder: Path, digest: str, output: ShardOutput) -> None:
    """Write a mapped shard's report beside its parts (the JSON last: a shard cut short has none)."""
    folder.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(folder / _KEPT_UNMAPPED), "wb") as sink, pa.ipc.new_file(sink, output.unmapped.schema) as writer:
        writer.write_table(output.unmapped)
    c = output.checked
    report = {"digest": digest, "shard": output.shard, "counts": c.counts, "checked": c.checked,
              "failures": c.failures, "profile_failures": c.profile_failures, "elsewhere": sorted(c.elsewhere),
              "warnings": output.warnings, "organisations_used": sorted(output.organisations_used),
              "services_used": [[*key, value] for key, value in sorted(output.services_used.items())]}
    (folder / _KEPT_REPORT).write_text(json.dumps(report, default=str), encoding="utf-8")


def _load_kept(folder: Path) -> tuple[str, ShardOutput]:
    """The digest and report `_save_kept` wrote."""
    r = json.loads((folder / _KEPT_REPORT).read_text(encoding="utf-8"))
    with pa.memory_map(str(folder / _KEPT_UNMAPPED)) as source:
        unmapped = pa.ipc.open_file(source).read_all()
    checked = Checked(counts=r["counts"], checked=r["checked"], failures=r["failures"],
                      profile_failures=r["profile_failures"], elsewhere=set(r["elsewhere"]))
    return r["digest"], ShardOutput(shard=r["shard"], checked=checked, unmapped=unmapped, warnings=r["warnings"],
                                    organisations_used=set(r["organisations_used"]),
                                    services_used={(a, b): v for a, b, v in r["services_used"]})


class _Kept:
    """The shard store of one export: which shards to map, which to reuse, and keeping what is mapped."""

    def __init__(self, store: ShardStore, shards: int, strict: bool) -> None:
        self.store, self.salt = store, f"{store.salt}|shards={shards}|strict={strict}"
        self.digests: dict[int, str] = {}
        self.reused: list[ShardOutput] = []
        store.folder.mkdir(parents=True, exist_ok=True)
        for stale in store.folder.iterdir():      # shards beyond the count (the count changed)
            if not (stale.name.isdigit() and int(stale.name) < shards):
                shutil.rmtree(stale, ignore_errors=True)

    def fresh(self, split: SplitInputs) -> Iterator[ShardInput]:
        """The shards to map; the others' kept reports go to `reused`."""
        for task in split:
            digest = self.digests[task.shard] = shard_digest(task, self.salt)
            kept = self.store.folder / f"{task.shard:05d}"
            if self.store.previous.get(task.shard) == digest and (kept / _KEPT_REPORT).is_file():
                recorded, output = _load_kept(kept)
                if recorded == digest:
                    self.reused.append(output)
                    continue
            shutil.rmtree(kept, ignore_errors=True)
            yield task

    def keep(self, output: ShardOutput) -> ShardOutput:
        """Record a mapped shard's report beside its parts."""
        _save_kept(self.store.folder / f"{output.shard:05d}", self.digests[output.shard], output)
        return output


def export_result(split: SplitInputs, outputs: list[ShardOutput], total: Checked, reference_warnings: list[str],
                  found: set[str], files: dict[str, list[Path]], manifest: Path, shards: int) -> FhirExport:
    """The export's report once its NDJSON is written (`files`: each type's files, one or one per
    part): references no batch could resolve are checked against the written files."""
    written = {rtype for rtype, n in total.counts.items() if n}
    missing = unresolved(total.elsewhere, found, written)
    dangling = recheck_references([p for rtype in sorted(written) for p in files.get(rtype, [])], missing, written)
    return FhirExport(
        counts=total.counts,
        validation=ValidationReport(checked=total.checked, failures=sorted(
            total.failures, key=lambda f: (f["resource_type"], f["id"]))),
        profiles=profile_report(total.checked, total.profile_failures + dangling),
        unmapped=sorted_unmapped(split.unmapped + [o.unmapped for o in outputs]),
        warnings=merged_warnings([w for o in outputs for w in o.warnings] + reference_warnings),
        referral_matches=split.matches,
        manifest=manifest,
        shards=shards,
    )
