"""Stage one landed file: read it, match its header, check its rows, and account for every row.

A file of an earlier submission is only counted (superseded). A file whose table is unknown, that
lacks a required column, whose header repeats a column (by name or through an alias), or that has
no header at all (empty_file) or an undecodable one, is quarantined whole (line 0 carries the
header, then every record) with its reason in the load audit. A file that cannot be opened or
parsed at all (a broken Parquet file) is reported as unreadable. Any other file is checked row by
row: good rows are staged with their provenance, the rest quarantined with their raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.staging.audit import QUARANTINE_SCHEMA
from carebridge.staging.checks import validate
from carebridge.staging.headers import ColumnMap, duplicate_columns, map_columns, spec_columns
from carebridge.staging.landing import LandedFile
from carebridge.staging.reader import RawFile, read_raw
from carebridge.staging.tables import ColumnSpec, TableSpec

__all__ = ["FileResult", "process_file"]


@dataclass(frozen=True)
class FileResult:
    landed: LandedFile
    audit: dict[str, Any]
    staged: pa.Table | None = None
    quarantine: pa.Table | None = None
    extras: pa.Table | None = None


# ---------------------------------------------------------------- building blocks

def _constant(value: str | None, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _text_column(value: str | pa.Array | Sequence[str], n: int) -> pa.Array:
    """One text per row, or the same text for all n rows."""
    return _constant(value, n) if isinstance(value, str) else pa.array(value, pa.string())


def _audit(landed: LandedFile, encoding: str | None, status: str, *, read: int = 0, staged: int = 0,
           quarantined: int = 0, superseded: int = 0, columns: ColumnMap | None = None,
           header: tuple[str, ...] = (), aliases: Sequence[str] = (), reason: str | None = None,
           detail: str | None = None) -> dict[str, Any]:
    """The file's load-audit row."""
    unknown = columns.unknown_names(header) if columns else ()
    return {
        "source": landed.source, "provider_ods": landed.provider_ods, "reporting_month": landed.reporting_month,
        "submission_id": landed.submission_id, "source_file": landed.source_file, "table_name": landed.table_name,
        "encoding": encoding, "rows_read": read, "rows_staged": staged, "rows_quarantined": quarantined,
        "rows_superseded": superseded, "file_status": status,
        "aliases_used": ";".join(aliases) or None, "unknown_columns": ";".join(unknown) or None,
        "reason": reason, "detail": detail,
    }


def _quarantine(landed: LandedFile, lines: Sequence[int] | np.ndarray, reason: str | pa.Array,
                detail: str | pa.Array | Sequence[str], raw_rows: Sequence[str]) -> pa.Table:
    n = len(lines)
    columns = {
        "source": _constant(landed.source, n),
        "provider_ods": _constant(landed.provider_ods, n),
        "reporting_month": _constant(landed.reporting_month, n),
        "submission_id": _constant(landed.submission_id, n),
        "source_file": _constant(landed.source_file, n),
        "source_line": pa.array(np.asarray(lines, dtype=np.int64)),
        "table_name": _constant(landed.table_name, n),
        "reason_code": _text_column(reason, n),
        "detail": _text_column(detail, n),
        "raw_row": pa.array(list(raw_rows), pa.string()),
    }
    return pa.table(columns, schema=QUARANTINE_SCHEMA)


def _malformed(landed: LandedFile, raw: RawFile) -> pa.Table:
    rows = raw.malformed
    return _quarantine(landed, [m.source_line for m in rows], pa.array([m.reason for m in rows], pa.string()),
                       [m.detail for m in rows], [m.raw_row for m in rows])


def _with_metadata(typed: pa.Table, landed: LandedFile, lines: np.ndarray) -> pa.Table:
    n = typed.num_rows
    for name, value in (("provider_ods", landed.provider_ods), ("reporting_month", landed.reporting_month),
                        ("submission_id", landed.submission_id), ("source_file", landed.source_file)):
        typed = typed.append_column(name, _constant(value, n))
    return typed.append_column("source_line", pa.array(lines, pa.int64()))


def _extras(raw: RawFile, columns: ColumnMap) -> pa.Table | None:
    if not columns.unknown:
        return None
    kept = raw.records.select(list(columns.unknown))
    return kept.add_column(0, "source_line", pa.array(raw.source_lines, pa.int64()))


# ---------------------------------------------------------------- one file

def _whole_file(landed: LandedFile, raw: RawFile, reason: str, detail: str, status: str,
                columns: ColumnMap | None = None, aliases: Sequence[str] = ()) -> FileResult:
    """Quarantine every record of a file: line 0 carries the header, then each record verbatim."""
    header = _quarantine(landed, [0], reason, detail, [raw.header_raw])
    records = _quarantine(landed, raw.source_lines, reason, detail, raw.raw_rows(np.arange(raw.records.num_rows)))
    malformed = _quarantine(landed, [m.source_line for m in raw.malformed], reason, detail,
                            [m.raw_row for m in raw.malformed])
    quarantine = pa.concat_tables([header, records, malformed]).sort_by("source_line")
    audit = _audit(landed, raw.encoding, status, read=raw.rows_read, quarantined=raw.rows_read, columns=columns,
                   header=raw.header, aliases=aliases, reason=reason, detail=detail)
    return FileResult(landed, audit, quarantine=quarantine)


def _lookup_from(sibling: LandedFile, column: ColumnSpec, keys: pa.ChunkedArray) -> pa.Array | None:
    """Values of `column` from a sibling table, matched on the from_table key (first row per key)."""
    raw = read_raw(sibling)
    if raw.rejection or duplicate_columns(raw.header, sibling.spec):
        return None
    positions = map_columns(raw.header, sibling.spec).positions
    key_name = column.from_table.key
    if key_name not in positions or column.name not in positions:
        return None
    pairs = pa.table({"k": raw.records.column(positions[key_name]), "v": raw.records.column(positions[column.name])})
    pairs = pairs.filter(pc.and_(pc.is_valid(pairs["k"]), pc.is_valid(pairs["v"])))
    firsts = pairs.group_by("k", use_threads=False).aggregate([("v", "first")])
    return pc.take(firsts["v_first"], pc.index_in(keys, firsts["k"]))


def _supply_missing(text: pa.Table, spec: TableSpec, columns: ColumnMap,
                    siblings: dict[str, LandedFile]) -> tuple[pa.Table, dict[str, str]]:
    """Fill columns the file lacks from a sibling table of the same submission (MHSDS v5 MHS102).

    Returns the filled text and, per supplied column, the alias note for the audit.
    """
    supplied: dict[str, str] = {}
    for column in spec.columns:
        source = column.from_table
        if source is None or column.name in columns.positions or source.table not in siblings:
            continue
        values = _lookup_from(siblings[source.table], column, text[source.key])
        if values is not None:
            text = text.set_column(text.column_names.index(column.name), column.name, values)
            supplied[column.name] = f"{source.table}.{column.name}->{column.name}"
    return text, supplied


def _stage_rows(landed: LandedFile, raw: RawFile, text: pa.Table, columns: ColumnMap,
                aliases: Sequence[str]) -> FileResult:
    validated = validate(landed.spec, text, raw.records)
    ok = validated.ok.to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~ok)
    staged = _with_metadata(validated.typed.filter(validated.ok), landed, raw.source_lines[ok])
    rejected = _quarantine(landed, raw.source_lines[bad], validated.reason.take(bad), validated.detail.take(bad),
                           raw.raw_rows(bad))
    quarantine = pa.concat_tables([_malformed(landed, raw), rejected]).sort_by("source_line")
    audit = _audit(landed, raw.encoding, "loaded", read=raw.rows_read, staged=staged.num_rows,
                   quarantined=quarantine.num_rows, columns=columns, header=raw.header, aliases=aliases)
    return FileResult(landed, audit, staged, quarantine, _extras(raw, columns))


def _stage_file(landed: LandedFile, siblings: dict[str, LandedFile]) -> FileResult:
    raw = read_raw(landed)
    if landed.spec is None:
        return _whole_file(landed, raw, "unknown_table", f"{landed.table_name} is no {landed.source} table",
                           "unknown_table")
    if raw.rejection:
        return _whole_file(landed, raw, *raw.rejection, "rejected")
    duplicates = duplicate_columns(raw.header, landed.spec)
    if duplicates:
        return _whole_file(landed, raw, "duplicate_column", f"ambiguous header: {'; '.join(duplicates)}"[:500],
                           "rejected")
    columns = map_columns(raw.header, landed.spec)
    text = spec_columns(raw.records, landed.spec, columns)
    text, supplied = _supply_missing(text, landed.spec, columns, siblings)
    aliases = [*columns.aliases_used, *supplied.values()]
    have = set(columns.positions) | set(supplied)
    missing = [c.name for c in landed.spec.columns if c.required and c.name not in have]
    if missing:
        return _whole_file(landed, raw, "missing_required_column", f"missing: {', '.join(missing)}", "rejected",
                           columns, aliases)
    return _stage_rows(landed, raw, text, columns, aliases)


def _unreadable(landed: LandedFile, error: Exception) -> FileResult:
    detail = f"{type(error).__name__}: {error}"[:500]
    quarantine = _quarantine(landed, [0], "unreadable_file", detail, [""])
    return FileResult(landed, _audit(landed, None, "unreadable", reason="unreadable_file", detail=detail),
                      quarantine=quarantine)


def _superseded(landed: LandedFile) -> FileResult:
    """A file of an earlier submission: counted, never staged or quarantined."""
    try:
        raw = read_raw(landed)
        encoding, rows = raw.encoding, raw.rows_read
    except Exception:  # an unreadable file that is replaced anyway: nothing to count
        encoding, rows = None, 0
    return FileResult(landed, _audit(landed, encoding, "superseded", read=rows, superseded=rows, reason="superseded",
                                     detail=f"submission {landed.submission_id} is replaced by a later one"))


def process_file(landed: LandedFile, latest: dict[tuple[str, str, str], str],
                 siblings: dict[str, LandedFile]) -> FileResult:
    """Stage one landed file: superseded, rejected as a whole, unreadable, or row by row.

    `latest` gives the latest submission per delivery; `siblings` the other files of the same
    submission folder by table name (for columns supplied by another table).
    """
    if landed.submission_id != latest[landed.delivery]:
        return _superseded(landed)
    try:
        return _stage_file(landed, siblings)
    except Exception as error:  # a file that cannot be parsed must not stop the rest of the landing
        return _unreadable(landed, error)
