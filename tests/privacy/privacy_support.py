"""Helpers for the privacy tests (no tests here): reading whole schemas and scanning them for direct
identifiers. Findings name the table, column and kind of identifier, never the value: test
output must not contain patient data.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from carebridge.core.nhs_number import is_valid
from warehouse.db import query, read_table

NHS_NUMBER = re.compile(r"\d{3}[ -]?\d{3}[ -]?\d{4}")
# A full UK postcode: outward code, then the inward part (digit + two letters).
POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b", re.IGNORECASE)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    kind: str
    rows: int


def schema_tables(engine: sa.Engine, schema: str) -> dict[str, pa.Table]:
    names = query(engine, "SELECT table_name FROM information_schema.tables "
                          f"WHERE table_schema = '{schema}' ORDER BY table_name")["table_name"].to_pylist()
    return {name: read_table(engine, schema, name) for name in names}


def truth_rows(truth: Path, name: str) -> list[dict[str, str]]:
    with open(truth / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def as_text(column: pa.ChunkedArray) -> list[str | None]:
    """Every value as text (dates as ISO dates), the way an identifier would be recognised."""
    if pa.types.is_nested(column.type):
        return [None if v is None else str(v) for v in column.to_pylist()]
    return pc.cast(column, pa.string()).to_pylist()


def _hits(values: Iterable[str | None], kind: str, names: set[str], birth_dates: set[str]) -> int:
    if kind == "nhs_number":
        return sum(1 for v in values if v and NHS_NUMBER.fullmatch(v.strip())
                   and is_valid(re.sub(r"\D", "", v)))
    if kind == "name":
        return sum(1 for v in values if v and v.strip().casefold() in names)
    if kind == "postcode":
        return sum(1 for v in values if v and POSTCODE.search(v))
    return sum(1 for v in values if v and birth_dates & set(ISO_DATE.findall(v)))


def scan_table(name: str, table: pa.Table, names: set[str], birth_dates: set[str],
               row_birth_dates: list[str | None] | None = None) -> list[Finding]:
    """Direct identifiers in any column. With `row_birth_dates` (the birth date of each row's
    person), a date counts as a birth date only on its own person's row; otherwise any truth
    birth date counts."""
    findings = []
    for column in table.column_names:
        values = as_text(table[column])
        for kind in ("nhs_number", "name", "postcode"):
            n = _hits(values, kind, names, birth_dates)
            if n:
                findings.append(Finding(name, column, kind, n))
        if row_birth_dates is None:
            n = _hits(values, "birth_date", names, birth_dates)
        else:
            n = sum(1 for v, own in zip(values, row_birth_dates) if v and own and own in ISO_DATE.findall(v))
        if n:
            findings.append(Finding(name, column, "birth_date", n))
    return findings


def vocabulary(engine: sa.Engine) -> set[str]:
    """Every text value of the code lists and reference data (`reference.*`): words such as the
    ethnic group `White` are vocabulary there, not someone's name."""
    words: set[str] = set()
    for table in schema_tables(engine, "reference").values():
        for column in table.columns:
            if pa.types.is_string(column.type):
                words |= {v.strip().casefold() for v in column.to_pylist() if v}
    return words


def birth_date_by_key(engine: sa.Engine) -> dict[str, str]:
    """person_key -> the person's ISO birth date, from the identifiable side of the same warehouse."""
    rows = query(engine, """SELECT k.person_key, CAST(p.birth_date AS VARCHAR) AS birth_date
                            FROM work.person_key_map AS k JOIN linkage.person AS p USING (person_id)
                            WHERE p.birth_date IS NOT NULL""").to_pylist()
    return {r["person_key"]: r["birth_date"][:10] for r in rows}


def scan_schema(engine: sa.Engine, schema: str, truth: Path) -> tuple[list[Finding], int]:
    """Findings in every column of every table of `schema`, and the number of values scanned."""
    persons = truth_rows(truth, "persons")
    names = {p[c].strip().casefold() for p in persons for c in ("given_name", "family_name")} - vocabulary(engine)
    birth_dates = {p["birth_date"] for p in persons}
    own_birth_date = birth_date_by_key(engine)
    findings, scanned = [], 0
    for name, table in schema_tables(engine, schema).items():
        per_row = ([own_birth_date.get(k) for k in table["person_key"].to_pylist()]
                   if "person_key" in table.column_names else None)
        findings += scan_table(f"{schema}.{name}", table, names, birth_dates, per_row)
        scanned += table.num_rows * table.num_columns
    return findings, scanned


def person_keys_of(engine: sa.Engine, where: str) -> set[str]:
    """person_keys of the identifiable persons matching a SQL condition on linkage.person (p)."""
    return set(query(engine, f"""SELECT k.person_key FROM linkage.person AS p
                                 JOIN work.person_key_map AS k USING (person_id) WHERE {where}""")
               ["person_key"].to_pylist())


def sorted_rows(table: pa.Table, drop_keys: set[str] | None = None) -> list[tuple]:
    """The rows as sorted tuples of text, optionally without rows of some person_keys."""
    columns = [as_text(table[c]) for c in table.column_names]
    rows = list(zip(*columns)) if columns else []
    if drop_keys and "person_key" in table.column_names:
        at = table.column_names.index("person_key")
        rows = [r for r in rows if r[at] not in drop_keys]
    return sorted(rows, key=lambda r: tuple("" if v is None else v for v in r))


def files_under(folder: Path) -> Mapping[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def delivered_under(folder: Path) -> Mapping[Path, bytes]:
    """`files_under` without the pipeline's working state (dot folders such as `fhir/.shards`, the
    incremental store, whose reports carry the digest of their inputs): what is delivered."""
    return {p: data for p, data in files_under(folder).items()
            if not any(part.startswith(".") for part in p.relative_to(folder).parts)}
