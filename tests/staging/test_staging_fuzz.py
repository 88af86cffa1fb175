"""Property-based fuzzing of the readers (issue 17): whatever bytes arrive, in whatever encoding,
quoting, header shape or size, every input is staged or accounted for with a reason, never an
exception, and rows read = staged + quarantined + superseded."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carebridge.staging import reconcile, stage_landing
from carebridge.staging.audit import FILE_REASONS, FILE_STATUSES
from carebridge.staging.reader import read_csv_raw

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATIENT = ["patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex", "ethnic_category",
           "postcode", "lsoa_code", "registration_start", "registration_end", "type1_objection"]
NAMES = [*PATIENT, "PATIENT_ID", "x", "X", "", " sex ", "notes"]
TEXT = st.text(alphabet=st.sampled_from(list('abcXYZ019 ,"\n\r;-é’Ødß\u00a0\x00')), max_size=12)


def check_raw(raw, limit: int | None = None) -> None:
    """What any RawFile must satisfy."""
    assert raw.rows_read == raw.records.num_rows + len(raw.malformed)
    assert len(raw.source_lines) == raw.records.num_rows
    assert len(raw.raw_rows(np.arange(raw.records.num_rows))) == raw.records.num_rows
    assert all(m.reason and m.detail and m.source_line > 0 for m in raw.malformed)
    if raw.rejection:
        assert raw.records.num_rows == 0 and raw.rejection[0] in FILE_REASONS["rejected"]
    if limit:
        for column in raw.records.columns:
            assert all(len((v or "").encode()) <= limit for v in column.to_pylist())


def stage_one(data: bytes, name: str = "patient.csv"):
    """Stage one file in a fresh landing area; check the accounting; return its audit row."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "gp" / "ODS1" / "2024-01" / "20240105T0900"
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
        result = stage_landing(Path(tmp))
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []
    (row,) = result.load_audit.to_pylist()
    assert row["file_status"] in FILE_STATUSES
    if row["file_status"] != "loaded":
        assert row["reason"] in FILE_REASONS[row["file_status"]] and row["detail"]
    return row


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_and_are_accounted_for(data):
    check_raw(read_csv_raw(data))
    stage_one(data)


def _field(value: str, quote: bool) -> str:
    return '"' + value.replace('"', '""') + '"' if quote else value


csv_files = st.fixed_dictionaries({
    "header": st.one_of(st.just(PATIENT), st.lists(st.sampled_from(NAMES), min_size=1, max_size=14)),
    "rows": st.lists(st.lists(TEXT, min_size=0, max_size=15), max_size=15),
    "quote": st.sampled_from(["never", "always", "random"]),
    "newline": st.sampled_from(["\n", "\r\n"]),
    "encoding": st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "stray"]),
    "big": st.one_of(st.none(), st.integers(0, 14)),
    "cut": st.booleans(),
})


def render(spec: dict) -> tuple[bytes, int]:
    """A CSV file from a fuzzed description, and the limit used for oversized fields."""
    quote = {"never": lambda i: False, "always": lambda i: True, "random": lambda i: i % 3 == 0}[spec["quote"]]
    lines = [",".join(_field(v, quote(i)) for i, v in enumerate(spec["header"]))]
    for r, row in enumerate(spec["rows"]):
        row = list(row)
        if spec["big"] is not None and r == 0 and row:
            row[spec["big"] % len(row)] = "B" * 200
        lines.append(",".join(_field(v, quote(i) or ("," in v or '"' in v or "\n" in v) and spec["quote"] != "never")
                              for i, v in enumerate(row)))
    text = spec["newline"].join(lines) + ("" if spec["cut"] else spec["newline"])
    encoding = spec["encoding"]
    if encoding == "stray":  # UTF-8 with one Windows-1252 byte
        data = text.encode("utf-8") + b"\xe9x" + spec["newline"].encode()
    else:
        data = text.encode(encoding, errors="replace")
    return data, 100


@FUZZ
@given(csv_files)
def test_fuzzed_csv_files_load_or_are_accounted_for(spec):
    data, limit = render(spec)
    raw = read_csv_raw(data, limit)
    check_raw(raw, limit)
    row = stage_one(data)
    if row["file_status"] == "loaded":
        # a record is at least one line: never more rows than non-empty lines after the header
        # (a lone CR ends a line, as a CRLF does)
        lines = [line for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n") if line]
        assert row["rows_read"] <= max(len(lines) - 1, 0)


def test_plain_rows_are_all_read():
    header = ",".join(PATIENT)
    rows = [",".join(["P1", "", "a" * n, "b"] + [""] * 8) for n in range(50)]
    row = stage_one(("\n".join([header, *rows]) + "\n").encode())
    assert (row["file_status"], row["rows_read"]) == ("loaded", 50)


parquet_columns = st.lists(
    st.tuples(st.sampled_from(NAMES),
              st.sampled_from(["string", "int", "timestamp", "date", "null", "float"])),
    min_size=0, max_size=8)


def _values(kind: str, n: int, draw) -> pa.Array:
    if kind == "string":
        return pa.array(draw(st.lists(st.one_of(st.none(), TEXT), min_size=n, max_size=n)), pa.string())
    if kind == "int":
        return pa.array(draw(st.lists(st.one_of(st.none(), st.integers(-2**40, 2**40)), min_size=n, max_size=n)))
    if kind == "float":
        return pa.array(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)), pa.float64())
    if kind == "timestamp":
        return pa.array(draw(st.lists(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1)),
                                      min_size=n, max_size=n)), pa.timestamp("us"))
    if kind == "date":
        return pa.array(draw(st.lists(st.dates(), min_size=n, max_size=n)), pa.date32())
    return pa.nulls(n)


@FUZZ
@given(st.data())
def test_fuzzed_parquet_files_load_or_are_accounted_for(data):
    columns = data.draw(parquet_columns)
    n = data.draw(st.integers(0, 6))
    table = pa.Table.from_arrays([_values(kind, n, data.draw) for _, kind in columns],
                                 names=[name for name, _ in columns]) if columns else pa.table({})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.parquet"
        pq.write_table(table, path)
        blob = path.read_bytes()
    row = stage_one(blob, "patient.parquet")
    assert row["rows_read"] == (n if columns else 0) or row["file_status"] == "unreadable"
