"""Splitting one run's mapping inputs into shards of people, so the FHIR export's memory is bounded
by the shard size, not by the population (docs/internals.md, FHIR mapping).

A person's shard is `md5(person_id) mod K`. Every staged row goes to the shard of the person it
belongs to, by the rules of `sharding.yaml` (its own patient, or its parent row's shard), so the
joins the mappers make (row -> person, contact/score/plan -> referral) stay inside one shard. A
shard's person index holds its own people plus any other person one of its rows names (a contact
whose referral belongs to someone else), with their whole link groups, so every lookup a mapper
makes gives what it gives over the whole population. Only the shard's own people become Patients.

What is not per person is decided once, over everything, before splitting: one record per local
id (duplicates and rows without an id are reported here), and referral matching (a UBRN pairs
records whatever people they were linked to).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import yaml

from fhir_mapping.context import MappingContext, PersonIndexLike, ReferenceLike, build_context, sql_name
from fhir_mapping.referral_matching import match_referrals
from fhir_mapping.referrals import build_referrals
from fhir_mapping.terminology import inputs

__all__ = ["ByShard", "ShardIndex", "ShardInput", "SplitInputs", "sharding_rules", "shard_count", "split_inputs",
           "shard_digest"]

_SHARD = "_shard"
_PERSON = "_person"


@cache
def sharding_rules() -> dict[str, Any]:
    with open(Path(__file__).parent / "sharding.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def shard_count(persons: int, workers: int = 1) -> int:
    """Shards for a population: one per `persons_per_shard` people, and at least one per worker
    once there is enough work to share (a few thousand people)."""
    per_shard = sharding_rules()["persons_per_shard"]
    wanted = math.ceil(persons / per_shard)
    if persons >= per_shard // 10:
        wanted = max(wanted, workers)
    return max(wanted, 1)


@dataclass(frozen=True)
class ShardIndex:
    """A PersonIndexLike restricted to one shard."""

    links: pa.Table
    persons: pa.Table


@dataclass(frozen=True)
class ShardInput:
    """Everything one shard's mapping reads; picklable, holds only the shard's rows."""

    shard: int
    staged: dict[str, pa.Table]
    index: ShardIndex
    home_persons: pa.Array          # the people whose Patient this shard writes
    matches: pa.Table               # referral matches whose receiving referral is in this shard
    reference: ReferenceLike


@dataclass(frozen=True)
class ByShard:
    """A table's rows ordered by shard in an Arrow IPC file on disk, and where each shard's rows
    start (K+1 offsets). On disk, not in memory: the parent of the export holds no copy of the
    population while the shards are mapped (issue 14, memory bounded by the shard)."""

    path: Path
    bounds: np.ndarray

    @property
    def table(self) -> pa.Table:
        """Every row (memory-mapped: pages are read as they are touched)."""
        with pa.memory_map(str(self.path)) as source:
            return pa.ipc.open_file(source).read_all()

    def cut(self, i: int) -> pa.Table:
        """Rows of shard i, copied out of the mapped file (only their pages are read)."""
        return self.table.take(np.arange(int(self.bounds[i]), int(self.bounds[i + 1])))


@dataclass(frozen=True)
class SplitInputs:
    """The whole population's inputs, deduplicated and split by shard; `shard(i)` cuts one out."""

    shards: int
    staged: dict[str, ByShard]               # staged key -> rows (one record per local id)
    links: ByShard
    persons: ByShard
    home: ByShard                            # (person_id): whose Patient each shard writes
    matches: pa.Table                        # every referral match (MATCH_SCHEMA)
    matches_by_shard: ByShard                # ... by the shard of the receiving referral
    unmapped: list[pa.Table]                 # rows reported before splitting (duplicates, missing ids)
    organisations_used: set[str]             # by the referrals (over everything)
    services_used: dict[tuple[str, str], str | None]
    reference: ReferenceLike
    scratch: Any = None                      # the TemporaryDirectory holding the files, when not given one

    def shard(self, i: int) -> ShardInput:
        return ShardInput(
            shard=i,
            staged={key: rows.cut(i) for key, rows in self.staged.items()},
            index=ShardIndex(links=self.links.cut(i), persons=self.persons.cut(i)),
            home_persons=self.home.cut(i)["person_id"].combine_chunks(),
            matches=self.matches_by_shard.cut(i).cast(self.matches.schema),
            reference=self.reference,
        )

    def __iter__(self) -> Iterator[ShardInput]:
        return (self.shard(i) for i in range(self.shards))


_BATCH_ROWS = 65_536


def _by_shard(ctx: MappingContext, query: str, shards: int, path: Path,
              named: list[pa.Table] | None = None) -> ByShard:
    """A query's rows ordered by its `_shard` column, streamed from DuckDB to an Arrow IPC file at
    `path` without the `_` columns. With `named`, appends (shard, person) of the rows whose `_person`
    is set."""
    reader = ctx.con.sql(f"SELECT * FROM ({query}) ORDER BY {_SHARD}").to_arrow_reader(_BATCH_ROWS)
    extra = [c for c in reader.schema.names if c.startswith("_")]
    kept = pa.schema([f for f in reader.schema if f.name not in extra])
    counts = np.zeros(shards, dtype=np.int64)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, kept) as writer:
        for batch in reader:
            counts += np.bincount(batch[_SHARD].to_numpy(zero_copy_only=False), minlength=shards)[:shards]
            if named is not None:
                persons = pa.table({"shard": batch[_SHARD], "person": batch[_PERSON]})
                named.append(persons.filter(persons["person"].is_valid()))
            writer.write_batch(pa.RecordBatch.from_arrays([batch[n] for n in kept.names], schema=kept))
    return ByShard(path, np.concatenate([[0], np.cumsum(counts)]))


_PERSON_SHARD_SQL = """
CREATE TEMP TABLE person_shard AS
SELECT person_id, (('0x' || left(md5(person_id), 8))::UBIGINT % $shards)::INTEGER AS shard FROM persons
"""


def _person_of(key: str, rule: dict[str, Any], alias: str) -> tuple[str, str, str]:
    """(joins, person, shard): the person a row of `alias` names itself and that person's shard."""
    column = rule.get("patient")
    if column is None:
        return "", "NULL", "NULL"
    source = key.split(".", 1)[0]
    joins = (f"LEFT JOIN subjects {alias}_s ON {alias}_s.source = '{source}' "
             f"AND {alias}_s.provider_ods = {alias}.provider_ods AND {alias}_s.local_patient_id = {alias}.\"{column}\" "
             f"LEFT JOIN person_shard {alias}_ps ON {alias}_ps.person_id = {alias}_s.person_id")
    return joins, f"{alias}_s.person_id", f"{alias}_ps.shard"


def _row_shard_sql(key: str, rules: dict[str, Any]) -> str:
    """Each row of a staged table with its shard and the person it names itself (or NULL)."""
    rule = rules[key]
    joins, person, own_shard = _person_of(key, rule, "t")
    shard = f"coalesce({own_shard}, 0)"
    if "parent" in rule:
        parent = rule["parent"]
        if "parent" in rules[parent]:
            raise ValueError(f"sharding.yaml: {key}'s parent {parent} must name its patient, not a parent")
        on = " AND ".join(f'p."{pc}" = t."{cc}"' for cc, pc in rule["via"].items())
        parent_joins, _, parent_shard = _person_of(parent, rules[parent], "p")
        joins += f" LEFT JOIN {sql_name(parent)} p ON p.provider_ods = t.provider_ods AND {on} {parent_joins}"
        marker = next(iter(rule["via"].values()))
        shard = f'CASE WHEN p."{marker}" IS NOT NULL THEN coalesce({parent_shard}, 0) ELSE {shard} END'
    return f"SELECT t.*, {shard} AS {_SHARD}, {person}::VARCHAR AS {_PERSON} FROM {sql_name(key)} t {joins}"


_SHARD_PERSONS_SQL = """
CREATE TEMP TABLE shard_persons AS
SELECT shard, person_id FROM person_shard
UNION
SELECT shard, person FROM row_persons
"""

_LINKS_SQL = """
WITH link_keys AS (
    SELECT DISTINCT sp.shard, l.source, l.provider_ods, l.local_patient_id
    FROM links l JOIN shard_persons sp USING (person_id)
)
SELECT l.*, k.shard AS _shard FROM links l JOIN link_keys k USING (source, provider_ods, local_patient_id)
"""

_PERSONS_SQL = "SELECT p.*, sp.shard AS _shard FROM persons p JOIN shard_persons sp USING (person_id)"

_MATCHES_SQL = """
SELECT m.*, ps.shard AS _shard
FROM matches m JOIN referrals r ON r.id = m.receiving_id JOIN person_shard ps ON ps.person_id = r.person_id
"""


def _split_staged(ctx: MappingContext, shards: int, folder: Path) -> dict[str, ByShard]:
    """Every staged table by shard; registers `row_persons` (shard, person) of the rows naming one."""
    rules = sharding_rules()["person_of"]
    staged: dict[str, ByShard] = {}
    named: list[pa.Table] = []
    for key in inputs()["tables"]:
        staged[key] = _by_shard(ctx, _row_shard_sql(key, rules), shards, folder / f"{sql_name(key)}.arrow", named)
    schema = pa.schema([("shard", pa.int32()), ("person", pa.string())])
    ctx.register("row_persons", pa.concat_tables([t.cast(schema) for t in named]) if named else schema.empty_table())
    return staged


def split_inputs(staged: dict[str, pa.Table], person_index: PersonIndexLike, reference: ReferenceLike,
                 shards: int, folder: Path | None = None) -> SplitInputs:
    """Deduplicate, match referrals and split the inputs into `shards` shards of people, written as
    Arrow IPC files in `folder` (created; a temporary directory removed with the result when None)."""
    scratch = None
    if folder is None:
        scratch = tempfile.TemporaryDirectory(prefix="carebridge-shards-")
        folder = Path(scratch.name)
    folder.mkdir(parents=True, exist_ok=True)
    ctx = build_context(staged, person_index, reference)
    unmapped = list(ctx.unmapped)
    build_referrals(ctx)
    matches = match_referrals(ctx)
    ctx.register("matches", matches)
    ctx.con.execute(_PERSON_SHARD_SQL, {"shards": shards})
    tables = _split_staged(ctx, shards, folder)
    ctx.con.execute(_SHARD_PERSONS_SQL)
    split = SplitInputs(
        shards=shards, staged=tables, links=_by_shard(ctx, _LINKS_SQL, shards, folder / "_links.arrow"),
        persons=_by_shard(ctx, _PERSONS_SQL, shards, folder / "_persons.arrow"),
        home=_by_shard(ctx, "SELECT person_id, shard AS _shard FROM person_shard", shards, folder / "_home.arrow"),
        matches=matches, matches_by_shard=_by_shard(ctx, _MATCHES_SQL, shards, folder / "_matches.arrow"),
        unmapped=unmapped, organisations_used=set(ctx.organisations_used),
        services_used=dict(ctx.services_used), reference=reference, scratch=scratch)
    ctx.con.close()
    return split


# An order-independent content hash of a table: its row count and the sums of each row's MD5
# (both 64-bit halves): the split's rows come in no fixed order within a shard.
_TABLE_HASH_SQL = """
SELECT count(*), coalesce(sum(md5_number_lower(t::VARCHAR)), 0)::VARCHAR,
       coalesce(sum(md5_number_upper(t::VARCHAR)), 0)::VARCHAR FROM cut t
"""


def _table_hash(con: duckdb.DuckDBPyConnection, table: pa.Table) -> list[str]:
    con.register("cut", table)
    try:
        row = con.sql(_TABLE_HASH_SQL).fetchall()[0]
        return [str(table.schema), *map(str, row)]
    finally:
        con.unregister("cut")


def shard_digest(task: ShardInput, salt: str = "") -> str:
    """A content digest of everything one shard's mapping reads except the reference data (the
    caller's `salt` stands for it, the shard count and the code): equal digests, equal resources.
    The FHIR export reuses a shard's written parts while its digest is unchanged."""
    tables = {f"staged {key}": task.staged[key] for key in sorted(task.staged)}
    tables |= {"links": task.index.links, "persons": task.index.persons, "matches": task.matches,
               "home": pa.table({"person_id": task.home_persons})}
    con = duckdb.connect()
    try:
        parts = [salt, task.shard, *((name, _table_hash(con, t)) for name, t in tables.items())]
    finally:
        con.close()
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()
