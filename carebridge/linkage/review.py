"""Clerical review: the queue as people read it, and their decisions as the linkage honours them.

- `review_queue(reviews, records, scored)`: one row per queued pair with both records'
  demographics side by side, the match weight, each comparison's weight (the evidence) and why it
  was held (`resolve.REVIEW_REASONS`).
- `read_decisions(path)`: a CSV or YAML file of decisions, one per pair: the two records'
  `source`, `provider_ods` and `local_patient_id` (`_l` and `_r`), `decision` (`match` or
  `non_match`; `not a match`, `no` ... are accepted), optional `note` and `decided_by`. A bad row
  is a one-line error naming the row.
- Decisions are kept in `linkage.linkage_decision` (DECISION_RECORD_SCHEMA, appended, never
  rewritten); every linkage run reads them all and `resolve` honours the latest decision of each
  pair (a decided pair scores +/-1000 and never returns to the queue).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from carebridge.linkage.resolve import DECISION_SCHEMA, REVIEW_REASONS

__all__ = ["DECISION_RECORD_SCHEMA", "KEY_COLUMNS", "DecisionError", "read_decisions", "decision_pairs",
           "review_queue", "normalise_decision"]

KEY_COLUMNS = ("source_l", "provider_ods_l", "local_patient_id_l", "source_r", "provider_ods_r", "local_patient_id_r")
DECISION_RECORD_SCHEMA = pa.schema([*((c, pa.string()) for c in KEY_COLUMNS), ("decision", pa.string()),
                                    ("note", pa.string()), ("decided_by", pa.string()), ("decided_at", pa.string())])

_SAYS = {"match": "match", "same": "match", "same person": "match", "yes": "match", "y": "match", "link": "match",
         "non_match": "non_match", "non-match": "non_match", "not a match": "non_match", "no match": "non_match",
         "not_match": "non_match", "no": "non_match", "n": "non_match", "different": "non_match",
         "different people": "non_match"}


class DecisionError(ValueError):
    """A decisions file that cannot be used (the message names the file and row)."""



def _quoted(text: str) -> str:
    """`text` inside an SQL string literal (a reason may hold an apostrophe)."""
    return text.replace("'", "''")

def normalise_decision(text: Any) -> str | None:
    return _SAYS.get(str(text or "").strip().lower())


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() in (".yaml", ".yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if isinstance(data, dict):
            data = data.get("decisions", [])
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise DecisionError(f"{path}: expected a list of decisions (mappings)")
        return data
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def read_decisions(path: Path, decided_at: str, decided_by: str = "") -> pa.Table:
    """The decisions of a CSV or YAML file, in DECISION_RECORD_SCHEMA (stamped `decided_at`)."""
    path = Path(path)
    if not path.is_file():
        raise DecisionError(f"{path}: no such file")
    out: dict[str, list] = {name: [] for name in DECISION_RECORD_SCHEMA.names}
    for number, row in enumerate(_rows(path), start=1):
        missing = [c for c in KEY_COLUMNS if not str(row.get(c) or "").strip()]
        if missing:
            raise DecisionError(f"{path}: decision {number} lacks {', '.join(missing)}")
        decision = normalise_decision(row.get("decision"))
        if decision is None:
            raise DecisionError(f"{path}: decision {number}: {row.get('decision')!r} is neither match nor non_match")
        for c in KEY_COLUMNS:
            out[c].append(str(row[c]).strip())
        out["decision"].append(decision)
        out["note"].append(str(row.get("note") or "") or None)
        out["decided_by"].append(str(row.get("decided_by") or decided_by or "") or None)
        out["decided_at"].append(decided_at)
    return pa.table(out, schema=DECISION_RECORD_SCHEMA)


def decision_pairs(records: pa.Table, decisions: pa.Table | None) -> pa.Table:
    """Decisions on records present in `records` as unique_id pairs (resolve's DECISION_SCHEMA),
    oldest first (so the latest decision of a pair wins)."""
    if decisions is None or decisions.num_rows == 0:
        return DECISION_SCHEMA.empty_table()
    con = duckdb.connect()
    try:
        con.register("records", records.select(["unique_id", "source", "provider_ods", "local_patient_id"]))
        con.register("decisions", decisions)
        return con.sql("""
            SELECT l.unique_id AS unique_id_l, r.unique_id AS unique_id_r, d.decision
            FROM (SELECT *, row_number() OVER () AS rn FROM decisions) d
            JOIN records l ON l.source = d.source_l AND l.provider_ods = d.provider_ods_l AND l.local_patient_id = d.local_patient_id_l
            JOIN records r ON r.source = d.source_r AND r.provider_ods = d.provider_ods_r AND r.local_patient_id = d.local_patient_id_r
            ORDER BY d.decided_at NULLS FIRST, d.rn""").to_arrow_table().cast(DECISION_SCHEMA)
    finally:
        con.close()


_SHOWN = ("nhs_number", "given_name", "family_name", "birth_date", "gender", "postcode", "gp_practice_ods")


def review_queue(reviews: pa.Table, records: pa.Table, pairs: pa.Table | None = None) -> pa.Table:
    """`reviews`: the index's review rows (person_index.REVIEW_SCHEMA); `records`: linkage_records
    (the demographics shown); `pairs`: the scored pairs (each comparison's weight, the evidence).
    One row per queued item: kind, why, match weight, evidence, both records side by side."""
    con = duckdb.connect()
    try:
        con.register("reviews", reviews)
        con.register("records", records)
        weights = [c for c in (pairs.column_names if pairs is not None else []) if c.startswith("w_")]
        if weights:
            con.register("pairs", pairs)
            evidence = " || '; ' || ".join(f"'{w[2:]} ' || coalesce(printf('%+.1f', p.{w}), 'n/a')" for w in weights)
            pair_join = ("LEFT JOIN pairs p ON p.unique_id_l = least(l.unique_id, r.unique_id) "
                         "AND p.unique_id_r = greatest(l.unique_id, r.unique_id)")
        else:
            evidence, pair_join = "NULL", ""
        why = " ".join(f"WHEN '{k}' THEN '{_quoted(v)}'" for k, v in REVIEW_REASONS.items())
        shown = ", ".join(f"l.{c}::VARCHAR AS {c}_l, r.{c}::VARCHAR AS {c}_r" for c in _SHOWN)
        return con.sql(f"""
            SELECT v.kind, CASE v.kind {why} END AS why, round(v.match_weight, 2) AS match_weight,
                   round(v.match_probability, 4) AS match_probability, {evidence} AS evidence,
                   v.source_l, v.provider_ods_l, v.local_patient_id_l, v.person_id_l,
                   v.source_r, v.provider_ods_r, v.local_patient_id_r, v.person_id_r, {shown},
                   NULL::VARCHAR AS decision, NULL::VARCHAR AS note
            FROM reviews v
            JOIN records l ON l.source = v.source_l AND l.provider_ods = v.provider_ods_l AND l.local_patient_id = v.local_patient_id_l
            LEFT JOIN records r ON r.source = v.source_r AND r.provider_ods = v.provider_ods_r AND r.local_patient_id = v.local_patient_id_r
            {pair_join}
            ORDER BY v.kind, v.source_l, v.provider_ods_l, v.local_patient_id_l""").to_arrow_table()
    finally:
        con.close()
