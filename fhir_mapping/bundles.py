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
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from carebridge.ids import record_id
from fhir_mapping.context import PersonIndexLike, build_context, sql_name
from fhir_mapping.ndjson import dumps
from fhir_mapping.referrals import build_referrals
from fhir_mapping.terminology import code_maps, inputs, terminology

__all__ = ["CARE_RELATIONSHIP_SCHEMA", "care_relationships", "write_bundles", "references_of", "record_index"]

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


def references_of(value: Any) -> list[str]:
    """Every `Type/id` literal reference inside a resource."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str):
                found.append(ref)
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return found


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


def _bundle(ods: str, month: str, keys: list[str], by_key: dict[str, dict[str, Any]]) -> dict[str, Any]:
    base = terminology()["base"]
    return {
        "resourceType": "Bundle",
        "id": record_id("bundle", ods, "month", month),
        "type": "transaction",
        "entry": [{"fullUrl": f"{base}/{key}", "resource": by_key[key], "request": {"method": "PUT", "url": key}}
                  for key in keys],
    }


def write_bundles(resources: dict[str, list[dict[str, Any]]], relationships: pa.Table, out_dir: Path) -> list[Path]:
    """Write `fhir/bundles/<ODS>/<YYYY-MM>.json` for each organisation-month with records to share.

    The folder is rewritten whole, so a re-run leaves exactly this run's bundles (byte-identical).
    """
    folder = Path(out_dir) / "fhir" / "bundles"
    if folder.exists():
        shutil.rmtree(folder)
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
        path = folder / ods / f"{month}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(_bundle(ods, month, _closure(keys, refs), by_key)) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
