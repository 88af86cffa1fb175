"""Read one landed file into text columns, keeping each record's line number and raw text.

CSV: the encoding is decided per file, with evidence (`decode`). Valid UTF-8 (BOM tolerated) is
read as it is. Otherwise each line with bytes above 0x7F is classed as valid UTF-8 or not: a file
with at least as many valid UTF-8 lines as invalid ones is a UTF-8 file whose invalid lines are set
aside (reason invalid_encoding); any other file is Windows-1252, converted line by line, and its
lines that do not decode in Windows-1252 (bytes 0x81 0x8D 0x8F 0x90 0x9D are undefined) or that
are valid UTF-8 (a mixed file) are set aside the same way. A line set aside is blanked, so line
numbers hold. The encoding recorded is the one used.

Parsed by pyarrow with every column as text and "" as null; a file pyarrow cannot parse (a record
larger than its block even after a retry, quotes that leave record starts unclear) is parsed with
Python's csv module instead, so a file with a header is never lost whole. Records with the wrong
field count (typically a truncated last line), a last line cut inside a quoted value, and records
with a field over the size limit (`specs/defaults.yaml` limits.max_field_bytes) are set aside as
malformed with their raw text and reason. A file with no header line is rejected (empty_file).
Line numbers and raw text come from a vectorised scan of line starts; only files whose quoted
values contain line breaks fall back to Python's csv module to find where each record starts.

Parquet: every column cast to text (a timestamp at midnight as its date, any other as ISO 8601);
the raw text of a row is its JSON rendering.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from carebridge.staging.landing import LandedFile, read_landed
from carebridge.staging.tables import defaults

__all__ = ["RawFile", "Malformed", "Decoded", "read_raw", "read_csv_raw", "read_parquet_raw", "decode",
           "max_field_bytes"]

_BOM = b"\xef\xbb\xbf"
_PYARROW_BLOCK = 1 << 20
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # fields of any size are read, then judged by the limit


@cache
def max_field_bytes() -> int:
    return int(defaults()["limits"]["max_field_bytes"])


@dataclass(frozen=True)
class Malformed:
    source_line: int
    raw_row: str
    detail: str
    reason: str = "malformed_row"


@dataclass(frozen=True)
class RawFile:
    """A file's well-formed records as text columns (original header names, in file order)."""

    encoding: str | None
    header: tuple[str, ...]
    header_raw: str
    records: pa.Table  # one string column per header field, well-formed records only
    source_lines: np.ndarray  # int64, 1-based line of each record in `records`
    malformed: tuple[Malformed, ...]
    raw_rows: Callable[[np.ndarray], list[str]]  # raw text of records at these positions
    rejection: tuple[str, str] | None = None  # (reason, detail) when the file as a whole cannot be staged

    @property
    def rows_read(self) -> int:
        return self.records.num_rows + len(self.malformed)


class Decoded(NamedTuple):
    data: bytes  # UTF-8, BOM removed, lines set aside blanked
    encoding: str  # utf-8, utf-8-sig, utf-16 or windows-1252
    set_aside: tuple[Malformed, ...] = ()  # lines that could not be decoded in the file's encoding


def _is_utf8(data: bytes) -> bool:
    try:
        pa.array([data], pa.binary()).cast(pa.string())  # validates UTF-8 without a Python copy
        return True
    except pa.ArrowInvalid:
        return False


def _shown(line: bytes) -> str:
    """A line's text for the quarantine: undecodable bytes written as \\xNN."""
    return line.decode("utf-8", errors="backslashreplace").rstrip("\r")


def decode(data: bytes) -> Decoded:
    """The file as UTF-8 bytes, the encoding it arrived in, and the lines that do not decode in it."""
    for utf16_bom, name in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(utf16_bom):  # "Unicode text" as Excel saves it
            try:
                return Decoded(data[2:].decode(name).encode("utf-8"), "utf-16")
            except UnicodeDecodeError:
                break
    bom = data.startswith(_BOM)
    if bom:
        data = data[len(_BOM):]
    if _is_utf8(data):
        return Decoded(data, "utf-8-sig" if bom else "utf-8")
    lines = data.split(b"\n")
    kinds: list[str] = []
    for line in lines:
        if line.isascii():
            kinds.append("ascii")
            continue
        try:
            line.decode("utf-8")
            kinds.append("utf-8")
        except UnicodeDecodeError:
            kinds.append("other")
    n_utf8, n_other = kinds.count("utf-8"), kinds.count("other")
    utf8_file = bom or (n_utf8 > 0 and n_utf8 >= n_other)
    out: list[bytes] = []
    aside: list[Malformed] = []
    for number, (line, kind) in enumerate(zip(lines, kinds), start=1):
        if kind == "ascii" or (utf8_file and kind == "utf-8"):
            out.append(line)
        elif utf8_file:
            out.append(b"")
            aside.append(Malformed(number, _shown(line), "not valid UTF-8 in a UTF-8 file", "invalid_encoding"))
        elif kind == "utf-8":
            out.append(b"")
            aside.append(Malformed(number, _shown(line), "a UTF-8 line in a Windows-1252 file (mixed encodings)",
                                   "invalid_encoding"))
        else:
            try:
                out.append(line.decode("cp1252").encode("utf-8"))
            except UnicodeDecodeError as error:
                out.append(b"")
                aside.append(Malformed(number, _shown(line), f"byte 0x{line[error.start]:02X} is not defined in "
                                       "Windows-1252 and the line is not UTF-8", "invalid_encoding"))
    return Decoded(b"\n".join(out), "utf-8-sig" if bom else "utf-8" if utf8_file else "windows-1252", tuple(aside))


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


def _parse(data: bytes, n_columns: int, threads: bool,
           block_size: int) -> tuple[pa.Table, list[tuple[int | None, str, int]]]:
    names = [f"c{i}" for i in range(n_columns)]
    bad: list[tuple[int | None, str, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=threads, column_names=names, skip_rows=1, block_size=block_size),
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
    """Header names, trimmed; a blank name becomes `column_<position>` (1-based) so names stay distinct
    from one another unless the file itself repeats one."""
    try:
        names = [name.strip() for name in next(csv.reader([text]), [])]
    except csv.Error:  # e.g. a NUL or stray quote: the plain split is the best reading
        names = [name.strip().strip('"') for name in text.split(",")]
    return tuple(name or f"column_{i}" for i, name in enumerate(names, start=1))


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
    if n_records and is_good[-1] and record_text[n_records].as_py().count('"') % 2:
        is_good[-1] = False
        malformed.append(Malformed(int(record_lines[-1]) + 1, record_text[n_records].as_py(),
                                   "unterminated quote: the last line was cut short"))
    return is_good, malformed


@dataclass
class _Parsed:
    table: pa.Table  # good records, columns c0..c(n-1)
    good_index: np.ndarray  # record number (header = 0) of each row of `table`
    record_lines: np.ndarray  # 0-based first physical line of the header and each record
    malformed: list[Malformed]


def _parse_fast(data: bytes, starts: np.ndarray, nonempty: np.ndarray, n_fields: int) -> _Parsed:
    body = data[starts[nonempty[0]]:]  # from the header on (blank lines before it are skipped)
    longest = int(np.diff(np.append(starts, len(data))).max())
    block = max(_PYARROW_BLOCK, 4 * longest)
    try:
        table, bad = _parse(body, n_fields, True, block)
    except pa.ArrowInvalid as error:
        if "straddling" not in str(error):
            raise
        table, bad = _parse(body, n_fields, False, len(body) + 1)  # one block: records of any size
    if bad and any(number is None for number, _, _ in bad):
        table, bad = _parse(body, n_fields, False, max(block, len(body) + 1))  # only the serial reader numbers rows
    record_lines = _record_lines(data, starts, nonempty, table.num_rows + len(bad))
    record_text = _spans(data, starts[record_lines])
    is_good, malformed = _sort_records(n_fields, bad, record_lines, record_text)
    good_index = np.flatnonzero(is_good)
    return _Parsed(table.slice(0, len(good_index)), good_index, record_lines, malformed)


def _parse_python(data: bytes, starts: np.ndarray, nonempty: np.ndarray, n_fields: int) -> _Parsed:
    """Python's csv module over the physical lines: slower, but it parses whatever it is given."""
    lines = _spans(data, starts).to_pylist()
    first = int(nonempty[0])
    reader = csv.reader(line + "\n" for line in lines[first:])
    rows: list[list[str]] = []
    firsts: list[int] = []
    consumed = 0
    unparsed: list[Malformed] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
                firsts.append(first + consumed)
            consumed = reader.line_num
    except csv.Error as error:  # every line from the one that failed on is set aside, none lost
        unparsed = [Malformed(first + i + 1, lines[first + i], f"could not be parsed: {error}")
                    for i in range(max(consumed, 1), len(lines) - first) if lines[first + i]]
    record_lines = np.asarray(firsts, dtype=np.int64)
    record_text = _spans(data, starts[record_lines])
    malformed: list[Malformed] = []
    good: list[int] = []
    for i, row in enumerate(rows[1:], start=1):
        if len(row) != n_fields:
            malformed.append(Malformed(int(record_lines[i]) + 1, record_text[i].as_py(),
                                       f"expected {n_fields} fields, found {len(row)}"))
        elif i == len(rows) - 1 and record_text[i].as_py().count('"') % 2:
            malformed.append(Malformed(int(record_lines[i]) + 1, record_text[i].as_py(),
                                       "unterminated quote: the last line was cut short"))
        else:
            good.append(i)
    columns = {f"c{c}": pa.array([rows[i][c] or None for i in good], pa.string()) for c in range(n_fields)}
    return _Parsed(pa.table(columns) if columns else pa.table({}), np.asarray(good, np.int64), record_lines,
                   malformed + unparsed)


def _oversized(parsed: _Parsed, header: tuple[str, ...], record_text: pa.Array, limit: int) -> _Parsed:
    """Move records with a field longer than `limit` bytes from the good rows to the malformed ones."""
    table = parsed.table
    if table.num_rows == 0 or table.num_columns == 0:
        return parsed
    lengths = [pc.fill_null(pc.binary_length(table.column(i)), 0) for i in range(table.num_columns)]
    longest = pc.max_element_wise(*lengths) if len(lengths) > 1 else lengths[0]
    over = pc.greater(longest, limit).to_numpy(zero_copy_only=False)
    if isinstance(over, np.ndarray) and not over.any():
        return parsed
    malformed = list(parsed.malformed)
    for row in np.flatnonzero(over):
        sizes = [lengths[c][int(row)].as_py() for c in range(table.num_columns)]
        column = int(np.argmax(sizes))
        text = record_text[int(parsed.good_index[row])].as_py()
        malformed.append(Malformed(int(parsed.record_lines[parsed.good_index[row]]) + 1, text[:limit],
                                   f"field {header[column]!r} is {sizes[column]:,} bytes, over the limit of "
                                   f"{limit:,} (raw_row cut to the limit)", "oversized_field"))
    keep = ~over
    return _Parsed(table.filter(pa.array(keep)), parsed.good_index[keep], parsed.record_lines, malformed)


def _rejected(encoding: str | None, reason: str, detail: str, header_raw: str = "",
              rows: tuple[Malformed, ...] = ()) -> RawFile:
    """A file that cannot be staged as a whole; `rows` are its lines, each to be quarantined."""
    return RawFile(encoding, (), header_raw, pa.table({}), np.zeros(0, np.int64), rows, lambda positions: [],
                   rejection=(reason, detail))


def read_csv_raw(data: bytes, limit: int | None = None) -> RawFile:
    """Read CSV bytes; never raises on content (a file with no header line comes back rejected)."""
    limit = limit or max_field_bytes()
    if not data:
        return _rejected(None, "empty_file", "the file is empty (0 bytes)")
    decoded = decode(data)
    data, encoding = decoded.data, decoded.encoding
    if b"\r" in data:  # a lone CR ends a line (old Mac files), as the CSV parser reads it anyway
        data = re.sub(rb"\r(?!\n)", b"\n", data)
    starts = _line_starts(data)
    lines = _spans(data, starts)
    nonempty = np.flatnonzero(pc.greater(pc.utf8_length(lines), 0).to_numpy(zero_copy_only=False))
    aside = list(decoded.set_aside)
    header_lost = bool(aside) and (len(nonempty) == 0 or aside[0].source_line <= int(nonempty[0]))
    if len(nonempty) == 0 or header_lost:
        if header_lost:  # the first line with text could not be decoded: no header to read rows by
            rest = tuple(Malformed(int(i) + 1, lines[int(i)].as_py(), "the header line could not be decoded",
                                   "invalid_encoding") for i in nonempty)
            rows = tuple(sorted((*aside[1:], *rest), key=lambda m: m.source_line))
            return _rejected(encoding, "invalid_encoding", f"the header line is not valid {encoding}",
                             aside[0].raw_row, rows)
        return _rejected(encoding, "empty_file", "the file holds no header line")
    header_raw = lines[int(nonempty[0])].as_py()
    header = _header(header_raw)
    try:
        parsed = _parse_fast(data, starts, nonempty, len(header))
    except (pa.ArrowInvalid, ValueError):
        parsed = _parse_python(data, starts, nonempty, len(header))
    record_text = _spans(data, starts[parsed.record_lines])
    if len(data) > limit:  # a smaller file cannot hold a field over the limit
        parsed = _oversized(parsed, header, record_text, limit)
    good_index = parsed.good_index
    malformed = sorted([*aside, *parsed.malformed], key=lambda m: m.source_line)
    records = parsed.table if parsed.table.num_columns else pa.table({f"c{i}": pa.array([], pa.string())
                                                                      for i in range(len(header))})
    return RawFile(
        encoding=encoding,
        header=header,
        header_raw=header_raw,
        records=records.rename_columns(list(header)),
        source_lines=parsed.record_lines[good_index] + 1,
        malformed=tuple(malformed),
        raw_rows=lambda positions: record_text.take(pa.array(good_index[positions], pa.int64())).to_pylist(),
    )


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text of a Parquet column; a timestamp at midnight becomes its date (a date delivered as a
    timestamp), any other timestamp ISO 8601 (UTC with Z when zoned)."""
    if pa.types.is_timestamp(column.type):
        zoned = column.type.tz is not None
        if zoned:
            column = pc.cast(column, pa.timestamp(column.type.unit, "UTC"))
        midnight = pc.equal(pc.cast(pc.cast(column, pa.date32()), column.type), column)
        full = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S" + ("Z" if zoned else ""))
        text = pc.if_else(midnight, pc.strftime(column, format="%Y-%m-%d"), full)
    else:
        text = pc.cast(column, pa.string())
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def read_parquet_raw(source: Path | bytes, limit: int | None = None) -> RawFile:
    """Read a Parquet file (a path or its bytes); raises on a file that is no Parquet."""
    limit = limit or max_field_bytes()
    table = pq.read_table(pa.BufferReader(source) if isinstance(source, bytes) else source)
    header = tuple(name.strip() or f"column_{i}" for i, name in enumerate(table.column_names, start=1))
    text = pa.table({f"c{i}": _as_text(table.column(i)) for i in range(table.num_columns)})

    def raw_rows_of(kept: np.ndarray) -> Callable[[np.ndarray], list[str]]:
        def raw_rows(positions: np.ndarray) -> list[str]:
            rows = table.take(pa.array(kept[positions], pa.int64())).to_pylist()
            return [json.dumps(row, default=str, ensure_ascii=False) for row in rows]
        return raw_rows

    lines = np.arange(table.num_rows + 1, dtype=np.int64)  # "line" 1 is the schema, as a header
    parsed = _Parsed(text, np.arange(1, table.num_rows + 1, dtype=np.int64), lines, [])
    if text.num_rows and text.num_columns:
        parsed = _oversized(parsed, header, _LazyJson(table), limit)
    kept = parsed.good_index - 1
    return RawFile(
        encoding="parquet",
        header=header,
        header_raw=json.dumps(list(table.column_names)),
        records=parsed.table.rename_columns(list(header)),
        source_lines=kept + 2,
        malformed=tuple(parsed.malformed),
        raw_rows=raw_rows_of(kept),
    )


class _LazyJson:
    """record_text for Parquet: record i (1-based; 0 is the schema) rendered as JSON on demand."""

    def __init__(self, table: pa.Table):
        self.table = table

    def __getitem__(self, i: int):
        row = self.table.slice(i - 1, 1).to_pylist()[0]
        return pa.scalar(json.dumps(row, default=str, ensure_ascii=False))


def read_raw(landed: LandedFile) -> RawFile:
    """Read a landed CSV or Parquet file through the landing boundary (raises on an unreadable
    Parquet file or a file that cannot be opened safely)."""
    data = read_landed(landed)
    if landed.format == "parquet":
        return read_parquet_raw(data)
    return read_csv_raw(data)
