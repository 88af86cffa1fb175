"""Per-organisation monthly transaction Bundles for direct care (outputs.md A, Files).

For each provider organisation and month: the people it cares for that month (registered patients
for a practice; people with a referral open that month for a trust, Talking Therapies or VCSE),
the records OTHER organisations hold about them, and everything those records reference (the
Patient, Organizations, HealthcareServices, the records they are based on), so every reference
resolves inside the Bundle. Bundles are incremental, so a consumer applying them in month order
with PUT holds every record without receiving it twelve times: the first month of a care
relationship (and the first month after a gap in it) carries the person's history up to that
month; every other month carries the records dated in that month. Nobody's bundle holds a person
without a care relationship: references only ever lead from a person's records to that person's records.

Two writers give the same bytes: `write_bundles` from resources held in memory (the reference,
used on small inputs and in tests), and `write_bundles_from_ndjson`, which streams an NDJSON
export through an on-disk DuckDB index (key, person, holder, date, references, JSON text), finds
seeds and the reference closure in SQL and writes each bundle by concatenating the resources'
canonical JSON, so its memory does not grow with the population.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa

from carebridge.core.ids import record_id
from carebridge.core.layout import OutputLayout
from fhir_mapping.context import PersonIndexLike, build_context, sql_name
from fhir_mapping.delivery import delivery_parts, logical_resources, references_of
from fhir_mapping.delivery_text import AnchorCache, delivery_parts_text
from fhir_mapping.ndjson import dumps, manifest_parts, type_lines
from fhir_mapping.referrals import build_referrals
from fhir_mapping.terminology import code_maps, inputs, terminology

__all__ = ["CARE_RELATIONSHIP_SCHEMA", "care_relationships", "write_bundles", "references_of", "record_index", "read_delivered",
           "BundleExport", "write_bundles_from_ndjson"]

# Bundle.timestamp when the caller gives none (tests); the pipeline passes the export's transaction time.
DEFAULT_TIMESTAMP = "1970-01-01T00:00:00Z"

CARE_RELATIONSHIP_SCHEMA = pa.schema([("ods", pa.string()), ("month", pa.string()), ("person_id", pa.string())])

# Care spans: a GP registration, or a receiving service's referral from receipt to discharge,
# closure or rejection (a declined referral without a date: the day it was received).
_SPANS_SQL = """
SELECT p.provider_ods AS ods, s.person_id, p.registration_start AS start_date, p.registration_end AS end_date
FROM gp_patient p JOIN subjects s ON s.source = 'gp' AND s.provider_ods = p.provider_ods
                                 AND s.local_patient_id = p.patient_id
UNION ALL
SELECT provider_ods, person_id, received_date,
       coalesce(end_date, rejected_date, CASE WHEN status = 'revoked' THEN received_date END)
FROM referrals WHERE source <> 'gp'
"""

# Months run over the data's horizon: the first to the last reporting month of any staged table.
_RELATIONSHIPS_SQL = """
WITH spans AS ({spans}),
months AS ({months}),
horizon AS (SELECT strptime(min(m), '%Y-%m')::DATE AS first_month, strptime(max(m), '%Y-%m')::DATE AS last_month
            FROM months WHERE m IS NOT NULL),
bounded AS (
    SELECT ods, person_id, greatest(date_trunc('month', start_date)::DATE, first_month) AS first_m,
           least(date_trunc('month', coalesce(end_date, last_month))::DATE, last_month) AS last_m
    FROM spans, horizon WHERE start_date IS NOT NULL
)
SELECT DISTINCT ods, strftime(m, '%Y-%m') AS month, person_id
FROM bounded, unnest(generate_series(first_m, last_m, INTERVAL 1 MONTH)) AS t(m)
WHERE first_m <= last_m
ORDER BY ods, month, person_id
"""


def care_relationships(staged: dict[str, pa.Table], person_index: PersonIndexLike) -> pa.Table:
    """(ods, month, person_id): who each organisation cares for in each month of the data."""
    ctx = build_context(staged, person_index)
    build_referrals(ctx)
    months = " UNION ".join(f"SELECT DISTINCT reporting_month AS m FROM {sql_name(key)}" for key in inputs()["tables"])
    table = ctx.sql(_RELATIONSHIPS_SQL.format(spans=_SPANS_SQL, months=months))
    ctx.con.close()
    return table.cast(CARE_RELATIONSHIP_SCHEMA)


def _path(resource: dict[str, Any], dotted: str) -> Any:
    value: Any = resource
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _subject(resource: dict[str, Any]) -> str | None:
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else None


def record_index(resources: dict[str, list[dict[str, Any]]]) -> pa.Table:
    """One row per record resource: (key, person_id, holder_ods, record_date)."""
    dates = code_maps()["record_date_element"]
    rows = {"key": [], "person_id": [], "holder_ods": [], "record_date": []}
    for rtype, element in dates.items():
        for r in resources.get(rtype, []):
            rows["key"].append(f"{rtype}/{r['id']}")
            rows["person_id"].append(_subject(r))
            rows["holder_ods"].append(r["meta"]["tag"][0]["code"].split("|", 1)[1])
            rows["record_date"].append(_path(r, element))
    return pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()})


_SEEDS_SQL = """
WITH runs AS (
    SELECT ods, month, person_id,
           coalesce(lag(month) OVER (PARTITION BY ods, person_id ORDER BY month)
                    <> strftime(strptime(month, '%Y-%m') - INTERVAL 1 MONTH, '%Y-%m'), true) AS run_start
    FROM relationships
)
SELECT c.ods, c.month, r.key
FROM runs c JOIN records r ON r.person_id = c.person_id
WHERE r.holder_ods <> c.ods
  AND CASE WHEN c.run_start THEN r.record_date IS NULL OR left(r.record_date, 7) <= c.month
           ELSE left(r.record_date, 7) = c.month END
ORDER BY c.ods, c.month, r.key
"""


def _closure(seeds: list[str], refs: dict[str, list[str]]) -> list[str]:
    """The seeds and everything they reference, transitively (only keys that exist)."""
    seen = set(seeds)
    todo = list(seeds)
    while todo:
        for ref in refs.get(todo.pop(), []):
            if ref in refs and ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return sorted(seen)


def _write_parts(folder: Path, ods: str, month: str, resources: list[dict[str, Any]], timestamp: str) -> list[Path]:
    """`<folder>/<ODS>/<YYYY-MM>/<NNNN>.json`: the organisation-month's delivery parts (fhir_mapping.delivery)."""
    paths = []
    for number, part in enumerate(delivery_parts(ods, month, resources, timestamp), 1):
        path = folder / ods / month / f"{number:04d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(part) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _write_text_parts(folder: Path, ods: str, month: str, parts: list[str]) -> list[Path]:
    """`_write_parts` for parts already serialised (`delivery_text.delivery_parts_text`)."""
    paths = []
    for number, part in enumerate(parts, 1):
        path = folder / ods / month / f"{number:04d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(part + "\n")
        paths.append(path)
    return paths


def _bundles_folder(out_dir: Path) -> Path:
    """`<out>/fhir/bundles`, emptied: a re-run leaves exactly this run's bundles."""
    folder = OutputLayout(Path(out_dir)).fhir_bundles
    if folder.exists():
        shutil.rmtree(folder)
    return folder


def write_bundles(resources: dict[str, list[dict[str, Any]]], relationships: pa.Table, out_dir: Path,
                  timestamp: str = DEFAULT_TIMESTAMP) -> list[Path]:
    """Write `fhir/bundles/<ODS>/<YYYY-MM>/<NNNN>.json`, the delivery parts of each organisation-month
    with records to share, each stamped `timestamp` (the export's transaction time).

    The folder is rewritten whole, so a re-run leaves exactly this run's bundles (byte-identical).
    """
    folder = _bundles_folder(out_dir)
    by_key = {f"{rtype}/{r['id']}": r for rtype, items in resources.items() for r in items}
    refs = {key: references_of(r) for key, r in by_key.items()}
    con = duckdb.connect()
    con.register("relationships", relationships)
    con.register("records", record_index(resources))
    seeds = con.sql(_SEEDS_SQL).to_arrow_table()
    con.close()
    groups: dict[tuple[str, str], list[str]] = {}
    for ods, month, key in zip(*(seeds[c].to_pylist() for c in ("ods", "month", "key"))):
        groups.setdefault((ods, month), []).append(key)
    paths = []
    for (ods, month), keys in sorted(groups.items()):
        paths += _write_parts(folder, ods, month, [by_key[k] for k in _closure(keys, refs)], timestamp)
    return paths


# --- streaming writer over an NDJSON export -------------------------------------------------------
#
# The index holds no JSON: each resource is a row (rid, key, person, holder, date, references) with
# rid numbering the keys in order, which is also the order of the export's lines (types by name,
# each file in id order). Bundle entries are (group, rid) pairs; the bundles are written in one pass
# over the NDJSON files, each line copied into every open bundle that holds it, so every bundle
# receives its entries in key order, as `write_bundles` sorts them.

# In canonical JSON (ndjson.dumps) a string member "reference" is always `"reference":"...`; inside
# a string every quote is escaped, so the pattern cannot match there. References hold no escapes.
_REFERENCE_PATTERN = r'"reference":"([^"\\]*)"'

# Bundles written per pass over the NDJSON files (each is an open file while its pass runs).
_OPEN_BUNDLES = 256


def _index_sql(rtype: str, path: Path) -> str:
    """One type's NDJSON file as index rows; each line parsed once by DuckDB."""
    date = code_maps()["record_date_element"].get(rtype)
    paths = ["$.id", "$.subject", "$.subject.reference", "$.patient.reference", "$.meta.tag[0].code",
             "$.identifier[0].system", "$.identifier[0].value"]
    paths += [f"$.{date}"] if date else []
    source = path.as_posix().replace("'", "''")
    return f"""
    INSERT INTO resources
    WITH raw AS (SELECT json::VARCHAR AS json FROM read_ndjson_objects('{source}')),
    parts AS (SELECT json_extract_string(json, {paths!r}) AS v,
                     regexp_extract_all(json, '{_REFERENCE_PATTERN}', 1) AS refs, md5(json) AS h FROM raw)
    SELECT '{rtype}/' || v[1], '{rtype}', v[1],
           nullif(regexp_extract(CASE WHEN v[2] IS NOT NULL THEN v[3] ELSE v[4] END, '^Patient/(.*)$', 1), ''),
           CASE WHEN strpos(v[5], '|') > 0 THEN substr(v[5], strpos(v[5], '|') + 1) ELSE v[5] END,
           {"v[8]" if date else "NULL"}, {"true" if date else "false"}, v[6], v[7], refs, h
    FROM parts
    """


_SETUP_SQL = """
CREATE TABLE resources (key VARCHAR, rtype VARCHAR, id VARCHAR, person_id VARCHAR, holder_ods VARCHAR,
                        record_date VARCHAR, is_record BOOLEAN, identifier_system VARCHAR,
                        identifier_value VARCHAR, refs VARCHAR[], h VARCHAR)
"""

_GRAPH_SQL = f"""
CREATE TABLE nodes AS
SELECT row_number() OVER (ORDER BY key) AS rid, * EXCLUDE (refs) FROM resources;
CREATE TABLE edges AS
SELECT DISTINCT n.rid AS src, t.rid AS dst
FROM (SELECT key, unnest(refs) AS ref FROM resources) r JOIN nodes n USING (key) JOIN nodes t ON t.key = r.ref;
DROP TABLE resources;
CREATE VIEW records AS SELECT key, person_id, holder_ods, record_date FROM nodes WHERE is_record;
CREATE TABLE seeds AS {_SEEDS_SQL};
CREATE TABLE groups AS
SELECT row_number() OVER (ORDER BY ods, month) AS grp, ods, month FROM (SELECT DISTINCT ods, month FROM seeds);
CREATE TABLE entries AS
SELECT g.grp, n.rid FROM seeds s JOIN groups g USING (ods, month) JOIN nodes n USING (key);
CREATE TABLE frontier AS SELECT * FROM entries;
"""

# One step of the reference closure: what the last step's entries reference and no entry holds yet.
_CLOSURE_STEP_SQL = """
CREATE OR REPLACE TABLE frontier AS
SELECT DISTINCT f.grp, e.dst AS rid FROM frontier f JOIN edges e ON e.src = f.rid
WHERE NOT EXISTS (SELECT 1 FROM entries x WHERE x.grp = f.grp AND x.rid = e.dst);
INSERT INTO entries SELECT * FROM frontier;
"""

_ENTRIES_SQL = """
SELECT e.rid, e.grp, n.id, coalesce(n.person_id, '') AS person_id FROM entries e JOIN nodes n USING (rid)
WHERE e.grp BETWEEN $first AND $last ORDER BY e.rid, e.grp
"""

_DISCLOSURES_SQL = """
SELECT g.ods AS recipient_ods, g.month, n.person_id, n.holder_ods, count(*)::BIGINT AS records
FROM entries e JOIN groups g USING (grp) JOIN nodes n USING (rid)
WHERE n.person_id IS NOT NULL
GROUP BY ALL ORDER BY ALL
"""

# What each recipient now holds of each person's records (fhir_mapping.retraction.LEDGER_SCHEMA).
_LEDGER_SQL = """
SELECT DISTINCT g.ods AS recipient_ods, n.rtype AS resource_type, n.id AS resource_id, n.identifier_system,
       n.identifier_value, n.person_id, n.holder_ods
FROM entries e JOIN groups g USING (grp) JOIN nodes n USING (rid)
WHERE n.person_id IS NOT NULL AND n.is_record
ORDER BY ALL
"""

# Each organisation-month's content: the hashes of its entries' lines in entry order (what its parts are cut from).
_GROUP_DIGESTS_SQL = """
SELECT g.grp, g.ods, g.month, md5(string_agg(n.h, ',' ORDER BY e.rid)) AS digest
FROM entries e JOIN groups g USING (grp) JOIN nodes n USING (rid)
GROUP BY ALL ORDER BY g.grp
"""

_OUTSIDE_SQL = """
SELECT count(*) FROM entries e JOIN groups g USING (grp) JOIN nodes n USING (rid)
WHERE n.rtype = 'Patient'
  AND NOT EXISTS (SELECT 1 FROM relationships x WHERE x.ods = g.ods AND x.month = g.month AND x.person_id = n.id)
"""


@dataclass(frozen=True)
class BundleExport:
    paths: list[Path]            # fhir/bundles/<ODS>/<YYYY-MM>.json, by (ODS, month)
    disclosures: pa.Table        # (recipient_ods, month, person_id, holder_ods, records) as sent
    patients_outside: int        # Patient entries without a care relationship (0 unless something is wrong)
    ledger: pa.Table             # what each recipient now holds (fhir_mapping.retraction.LEDGER_SCHEMA)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)  # (ODS, month) -> content digest
    written: int = -1            # organisation-months written this time (-1: all of them)

    def disclosure_log(self, run_id: str, recorded_at: datetime) -> pa.Table:
        """`disclosure.disclosure_log` of these bundles, from the index instead of re-reading them."""
        from fhir_mapping.disclosure import DISCLOSURE_LOG_SCHEMA

        n = self.disclosures.num_rows
        return pa.table([pa.array([run_id] * n, pa.string()),
                         pa.array([recorded_at] * n, pa.timestamp("us", tz="UTC")),
                         *(self.disclosures[f.name].cast(f.type) for f in list(DISCLOSURE_LOG_SCHEMA)[2:7]),
                         pa.array(["sent"] * n, pa.string())],
                        schema=DISCLOSURE_LOG_SCHEMA)


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


class _BundleFile:
    """One organisation-month's resources, written line by line to a work file (`key<TAB>person<TAB>
    canonical JSON`), then cut into delivery parts when complete (one bundle in memory at a time,
    as text: `delivery_text.delivery_parts_text` gives `delivery_parts`' bytes without parsing records)."""

    def __init__(self, work: Path, ods: str, month: str) -> None:
        self.ods, self.month = ods, month
        self.path = work / ods / f"{month}.tsv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh: IO[str] = open(self.path, "w", encoding="utf-8", newline="\n")

    def add(self, key: str, person: str, resource_json: str) -> None:
        self.fh.write(f"{key}\t{person}\t{resource_json}\n")

    def close(self, folder: Path, timestamp: str, cache: AnchorCache) -> list[Path]:
        self.fh.close()
        with open(self.path, encoding="utf-8", newline="\n") as fh:
            resources = [tuple(line.rstrip("\n").split("\t", 2)) for line in fh]
        self.path.unlink()
        return _write_text_parts(folder, self.ods, self.month,
                                 delivery_parts_text(self.ods, self.month, resources, timestamp, cache=cache))


def _lines(folder: Path, files: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """(resource type, line without its newline) of every export line, in rid order (a type's
    parts, if the export is partitioned, merged in id order)."""
    for rtype in dict.fromkeys(rtype for rtype, _ in files):
        for line in type_lines([folder / url for t, url in files if t == rtype]):
            yield rtype, line


def _entry_rows(con: duckdb.DuckDBPyConnection, first: int, last: int) -> Iterator[tuple[int, int, str, str]]:
    """(rid, group, id, person id or "") of the entries of groups first..last, by rid."""
    reader = con.sql(_ENTRIES_SQL, params={"first": first, "last": last}).to_arrow_reader(50_000)
    for batch in reader:
        yield from zip(*(batch.column(i).to_pylist() for i in range(4)))


def _write_pass(con: duckdb.DuckDBPyConnection, ndjson_dir: Path, files: list[tuple[str, str]],
                bundles: dict[int, _BundleFile]) -> None:
    """Copy every export line into the open bundles that hold it (one pass over the files)."""
    lines = enumerate(_lines(ndjson_dir, files), start=1)
    rid, rtype, line = 0, "", ""
    for want, grp, resource_id, person in _entry_rows(con, min(bundles), max(bundles)):
        if grp not in bundles:      # an organisation-month that is not rewritten (incremental)
            continue
        while rid < want:
            rid, (rtype, line) = next(lines, (want, ("", "")))
        if f'"id":{_string(resource_id)}' not in line:
            raise ValueError(f"{rtype or 'an'} NDJSON file changed or is not in id order: cannot stream bundles")
        bundles[grp].add(f"{rtype}/{resource_id}", person, line)


def _write_all(con: duckdb.DuckDBPyConnection, ndjson_dir: Path, files: list[tuple[str, str]],
               folder: Path, work: Path, timestamp: str, only: set[int] | None = None) -> list[Path]:
    """Write every group's parts (or only the groups in `only`, each folder replaced)."""
    groups = [g for g in con.sql("SELECT grp, ods, month FROM groups ORDER BY grp").fetchall()
              if only is None or g[0] in only]
    for _, ods, month in groups:
        shutil.rmtree(folder / ods / month, ignore_errors=True)
    paths: list[Path] = []
    cache = AnchorCache()
    for start in range(0, len(groups), _OPEN_BUNDLES):
        batch = groups[start:start + _OPEN_BUNDLES]
        bundles = {grp: _BundleFile(work / "logical", ods, month) for grp, ods, month in batch}
        _write_pass(con, ndjson_dir, files, bundles)
        for grp, _, _ in batch:
            paths += bundles[grp].close(folder, timestamp, cache)
    return paths


def _connect(work: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    con = duckdb.connect(str(work / "index.duckdb"))
    con.execute(f"SET memory_limit = '{memory_limit}'")
    spill = (work / "spill").as_posix().replace("'", "''")
    con.execute(f"SET temp_directory = '{spill}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _build_index(con: duckdb.DuckDBPyConnection, ndjson_dir: Path, files: list[tuple[str, str]],
                 relationships: pa.Table) -> None:
    """Index every resource, find the seeds and close them over references (in `entries`)."""
    con.execute(_SETUP_SQL)
    for rtype, url in files:
        con.execute(_index_sql(rtype, ndjson_dir / url))
    con.register("relationships", relationships)
    con.execute(_GRAPH_SQL)
    while con.sql("SELECT count(*) FROM frontier").fetchall()[0][0]:
        con.execute(_CLOSURE_STEP_SQL)


def write_bundles_from_ndjson(ndjson_dir: Path, relationships: pa.Table, out_dir: Path,
                              memory_limit: str = "2GB", timestamp: str | None = None,
                              previous: dict[tuple[str, str], str] | None = None, salt: str = "") -> BundleExport:
    """`write_bundles` over the NDJSON export in `ndjson_dir` (its manifest's files, each in id
    order as `write_ndjson` and `write_fhir_export` write them), streaming: the same bytes.
    `timestamp` defaults to the manifest's transactionTime.

    Incremental with `previous` (the `digests` of the last export, `salt` standing for the code):
    only the organisation-months whose content digest changed are rewritten, those no longer
    delivered are removed, the others' files are kept; the folder then holds the same bytes as
    a full write. The index lives in `<out>/fhir/.work/bundles/` while it runs (DuckDB spills
    there beyond `memory_limit`) and is removed at the end.
    """
    ndjson_dir = Path(ndjson_dir)
    manifest = json.loads((ndjson_dir / "manifest.json").read_text(encoding="utf-8"))
    files = [(rtype, path.name) for rtype, (paths, _) in sorted(manifest_parts(ndjson_dir).items()) for path in paths]
    timestamp = timestamp or manifest["transactionTime"]
    folder = _bundles_folder(out_dir) if previous is None else _kept_bundles_folder(out_dir)
    work = OutputLayout(Path(out_dir)).fhir_work("bundles")
    con = _connect(work, memory_limit)
    try:
        _build_index(con, ndjson_dir, files, relationships)
        groups = _group_digests(con, f"{salt}|{timestamp}")
        changed = None if previous is None else _changed(folder, groups, previous)
        written = _write_all(con, ndjson_dir, files, folder, work, timestamp, changed)
        disclosures = con.sql(_DISCLOSURES_SQL).to_arrow_table()
        outside = con.sql(_OUTSIDE_SQL).fetchall()[0][0]
        ledger = con.sql(_LEDGER_SQL).to_arrow_table()
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
        if work.parent.exists() and not any(work.parent.iterdir()):
            work.parent.rmdir()
    from fhir_mapping.retraction import LEDGER_SCHEMA

    paths = written if changed is None else _group_paths(folder, groups)
    return BundleExport(paths=paths, disclosures=disclosures, patients_outside=int(outside),
                        ledger=ledger.cast(LEDGER_SCHEMA), digests={k: d for k, (_, d) in groups.items()},
                        written=-1 if changed is None else len(changed))


def _group_digests(con: duckdb.DuckDBPyConnection, salt: str) -> dict[tuple[str, str], tuple[int, str]]:
    """(ODS, month) -> (group number, digest of its content, the timestamp and `salt`)."""
    return {(ods, month): (grp, hashlib.sha256(f"{salt}|{digest}".encode("utf-8")).hexdigest())
            for grp, ods, month, digest in con.sql(_GROUP_DIGESTS_SQL).fetchall()}


def _kept_bundles_folder(out_dir: Path) -> Path:
    """`<out>/fhir/bundles` with its organisation-months kept and its retractions removed (each run
    writes its own)."""
    folder = OutputLayout(Path(out_dir)).fhir_bundles
    for retractions in folder.glob("*/retractions"):
        shutil.rmtree(retractions)
    return folder


def _changed(folder: Path, groups: dict[tuple[str, str], tuple[int, str]],
             previous: dict[tuple[str, str], str]) -> set[int]:
    """The groups to rewrite (new or changed digest, or files missing); removes the folders of
    organisation-months no longer delivered."""
    for month_folder in folder.glob("*/*"):
        if (month_folder.parent.name, month_folder.name) not in groups:
            shutil.rmtree(month_folder)
    for ods_folder in folder.glob("*"):
        if ods_folder.is_dir() and not any(ods_folder.iterdir()):
            ods_folder.rmdir()
    return {grp for key, (grp, digest) in groups.items()
            if previous.get(key) != digest or not (folder / key[0] / key[1] / "0001.json").is_file()}


def _group_paths(folder: Path, groups: dict[tuple[str, str], tuple[int, str]]) -> list[Path]:
    return [p for _, (ods, month) in sorted((grp, key) for key, (grp, _) in groups.items())
            for p in sorted((folder / ods / month).glob("*.json"))]


def read_delivered(out_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(ODS, month) -> the logical bundle its delivery parts carry (`{"entry": [{"resource": ...}]}`,
    resources in key order with carebridge's ids and literal references; fhir_mapping.delivery).
    Retraction parts are not included. For tests and audits."""
    folder = Path(out_dir) / "fhir" / "bundles"
    months: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*/*/*.json")):
        if path.parent.name != "retractions":
            months.setdefault((path.parent.parent.name, path.parent.name), []).append(
                json.loads(path.read_text(encoding="utf-8")))
    return {key: {"resourceType": "Bundle", "entry": [{"resource": r} for _, r in sorted(logical_resources(parts).items())]}
            for key, parts in months.items()}
