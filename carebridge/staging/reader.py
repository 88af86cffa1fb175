"""Read one landed file into text columns, keeping each record's line number and raw text.

CSV: decoded as UTF-8 (BOM tolerated) or, when that fails, Windows-1252 (converted; recorded).
Parsed by pyarrow with every column as text and "" as null. Records with the wrong field count
(typically a truncated last line), and a last line cut inside a quoted value, are set aside as
malformed with their raw text. Line numbers
and raw text come from a vectorised scan of line starts; only files whose quoted values contain
line breaks fall back to Python's csv module to find where each record starts.

Parquet: every column cast to text; the raw text of a row is its JSON rendering.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from carebridge.staging.landing import LandedFile

__all__ = ["RawFile", "Malformed", "read_raw", "read_csv_raw", "read_parquet_raw", "decode"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Malformed:
    source_line: int
    raw_row: str
    detail: str


@dataclass(frozen=True)
class RawFile:
    """A file's well-formed records as text columns (original header names, in file order)."""

    encoding: str
    header: tuple[str, ...]
    header_raw: str
    records: pa.Table  # one string column per header field, well-formed records only
    source_lines: np.ndarray  # int64, 1-based line of each record in `records`
    malformed: tuple[Malformed, ...]
    raw_rows: Callable[[np.ndarray], list[str]]  # raw text of records at these positions

    @property
    def rows_read(self) -> int:
        return self.records.num_rows + len(self.malformed)


def decode(data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes without BOM, and the encoding the file arrived in."""
    if data.startswith(_BOM):
        data, encoding = data[len(_BOM) :], "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        pa.array([data], pa.binary()).cast(pa.string())  # validates UTF-8 without a Python copy
        return data, encoding
    except pa.ArrowInvalid:
        # Windows-1252 leaves five bytes undefined; Latin-1 maps them so nothing is lost.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        return text.encode("utf-8"), "windows-1252"


def _line_starts(data: bytes) -> np.ndarray:
    """Byte offset of every physical line (a final terminator opens no new line)."""
    newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    starts = np.concatenate([[0], newlines + 1]).astype(np.int64)
    return starts[:-1] if len(data) and starts[-1] == len(data) else starts


def _spans(data: bytes, starts: np.ndarray) -> pa.LargeStringArray:
    """Text from each start to the next one (or the end), line terminators trimmed."""
    offsets = np.concatenate([starts, [len(data)]]).astype(np.int64)
    spans = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))
    return pc.utf8_rtrim(spans, characters="\r\n")


def _parse(data: bytes, n_columns: int, threads: bool) -> tuple[pa.Table, list[tuple[int | None, str, int]]]:
    names = [f"c{i}" for i in range(n_columns)]
    bad: list[tuple[int | None, str, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=threads, column_names=names, skip_rows=1),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return table, bad


def _record_lines_slow(data: bytes, starts: np.ndarray) -> np.ndarray:
    """First physical line (0-based) of every record, header included, via Python's csv module."""
    lines = _spans(data, starts).to_pylist()
    firsts, consumed = [], 0
    reader = csv.reader(line + "\n" for line in lines)
    for row in reader:
        if row:
            firsts.append(consumed)
        consumed = reader.line_num
    return np.asarray(firsts, dtype=np.int64)


def _record_lines(data: bytes, starts: np.ndarray, nonempty: np.ndarray, n_records: int) -> np.ndarray:
    """First physical line (0-based) of the header and of each record after it."""
    if len(nonempty) == n_records + 1:  # every record is one non-empty line: no quoted line breaks
        return nonempty
    lines = _record_lines_slow(data, starts)
    if len(lines) != n_records + 1:
        raise ValueError("cannot tell where each record starts (unbalanced quotes?)")
    return lines


def _header(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in next(csv.reader([text]), []))


def _sort_records(n_fields: int, bad: list[tuple[int | None, str, int]], record_lines: np.ndarray,
                  record_text: pa.Array) -> tuple[np.ndarray, list[Malformed]]:
    """Which records (header = 0) are well formed, and the malformed ones in line order.

    Besides records with the wrong field count, a last record with an unbalanced quote is
    malformed: a line cut inside a quoted value still parses, the quote running to the end.
    """
    n_records = len(record_lines) - 1
    is_good = np.ones(n_records + 1, dtype=bool)
    bad_index = [number - 1 for number, _, _ in bad]  # pyarrow numbers the header 1
    is_good[[0, *bad_index]] = False
    malformed = [Malformed(int(record_lines[i]) + 1, record_text[i].as_py(), f"expected {n_fields} fields, found {found}")
                 for i, (_, _, found) in zip(bad_index, bad)]
    if is_good[-1] and record_text[n_records].as_py().count('"') % 2:
        is_good[-1] = False
        malformed.append(Malformed(int(record_lines[-1]) + 1, record_text[n_records].as_py(),
                                   "unterminated quote: the last line was cut short"))
    return is_good, sorted(malformed, key=lambda m: m.source_line)


def read_csv_raw(data: bytes) -> RawFile:
    data, encoding = decode(data)
    starts = _line_starts(data)
    lines = _spans(data, starts)
    nonempty = np.flatnonzero(pc.greater(pc.utf8_length(lines), 0).to_numpy(zero_copy_only=False))
    if len(nonempty) == 0:
        return _empty_raw(encoding)
    header_raw = lines[int(nonempty[0])].as_py()
    header = _header(header_raw)
    body = data[starts[nonempty[0]] :]  # from the header on (blank lines before it are skipped)
    table, bad = _parse(body, len(header), threads=True)
    if bad and any(number is None for number, _, _ in bad):
        table, bad = _parse(body, len(header), threads=False)  # only the serial reader numbers rows
    n_records = table.num_rows + len(bad)
    record_lines = _record_lines(data, starts, nonempty, n_records)
    record_text = _spans(data, starts[record_lines])
    is_good, malformed = _sort_records(len(header), bad, record_lines, record_text)
    good_index = np.flatnonzero(is_good)
    table = table.slice(0, len(good_index))  # drops a last record found cut short
    return RawFile(
        encoding=encoding,
        header=header,
        header_raw=header_raw,
        records=table.rename_columns(list(header)),
        source_lines=record_lines[good_index] + 1,
        malformed=tuple(malformed),
        raw_rows=lambda positions: record_text.take(pa.array(good_index[positions])).to_pylist(),
    )


def _empty_raw(encoding: str) -> RawFile:
    return RawFile(encoding, (), "", pa.table({}), np.zeros(0, np.int64), (), lambda positions: [])


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    text = pc.cast(column, pa.string())
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def read_parquet_raw(path: Path) -> RawFile:
    table = pq.read_table(path)
    header = tuple(table.column_names)

    def raw_rows(positions: np.ndarray) -> list[str]:
        rows = table.take(pa.array(positions, pa.int64())).to_pylist()
        return [json.dumps(row, default=str, ensure_ascii=False) for row in rows]

    return RawFile(
        encoding="parquet",
        header=header,
        header_raw=json.dumps(list(header)),
        records=pa.table({name: _as_text(table.column(i)) for i, name in enumerate(header)}),
        source_lines=np.arange(table.num_rows, dtype=np.int64) + 2,  # row 1 is the schema, as a header
        malformed=(),
        raw_rows=raw_rows,
    )


def read_raw(landed: LandedFile) -> RawFile:
    """Read a landed CSV or Parquet file (raises on unreadable files)."""
    if landed.format == "parquet":
        return read_parquet_raw(landed.path)
    return read_csv_raw(landed.path.read_bytes())
