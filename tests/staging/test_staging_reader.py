"""Reading raw files: encodings, line numbers, raw text, malformed records, Parquet."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from carebridge.staging.reader import decode, read_csv_raw, read_parquet_raw


def _all_raw(raw):
    return raw.raw_rows(np.arange(raw.records.num_rows))


def test_decode_utf8_bom_and_windows_1252():
    assert decode(b"a,b\n")[:2] == (b"a,b\n", "utf-8")
    assert decode(b"\xef\xbb\xbfa\n")[:2] == (b"a\n", "utf-8-sig")
    converted, encoding, aside = decode("Zo\u00eb,\u2019\n".encode("cp1252"))
    assert encoding == "windows-1252" and converted.decode("utf-8") == "Zo\u00eb,\u2019\n" and aside == ()


def test_lines_and_raw_text_are_exact_with_crlf_and_blank_lines():
    raw = read_csv_raw(b"a,b\r\n1, x \r\n\r\n3,\r\n")
    assert raw.records.to_pylist() == [{"a": "1", "b": " x "}, {"a": "3", "b": None}]
    assert raw.source_lines.tolist() == [2, 4]
    assert _all_raw(raw) == ["1, x ", "3,"]


def test_truncated_last_line_is_set_aside_with_its_line_and_text():
    raw = read_csv_raw(b"a,b,c\n1,2,3\n4,5,6\n7,8")
    assert raw.records.num_rows == 2 and raw.rows_read == 3
    (bad,) = raw.malformed
    assert (bad.source_line, bad.raw_row) == (4, "7,8")
    assert "expected 3 fields, found 2" in bad.detail


def test_quoted_line_breaks_keep_true_line_numbers():
    raw = read_csv_raw(b'a,b\n"x\ny",1\n2,2,2\n3,3\n')
    assert raw.records.to_pylist() == [{"a": "x\ny", "b": "1"}, {"a": "3", "b": "3"}]
    assert raw.source_lines.tolist() == [2, 5]
    assert _all_raw(raw) == ['"x\ny",1', "3,3"]
    assert [(m.source_line, m.raw_row) for m in raw.malformed] == [(4, "2,2,2")]


def test_empty_file_and_header_only_file():
    assert read_csv_raw(b"").rows_read == 0 and read_csv_raw(b"").rejection[0] == "empty_file"
    header_only = read_csv_raw(b"a,b\n")
    assert header_only.header == ("a", "b") and header_only.rows_read == 0


def test_parquet_rows_become_text_with_json_raw_rows(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": ["a", ""], "d": [dt.date(2024, 1, 2), None], "n": [3, 4]}), path)
    raw = read_parquet_raw(path)
    assert raw.records.to_pylist() == [{"id": "a", "d": "2024-01-02", "n": "3"}, {"id": None, "d": None, "n": "4"}]
    assert raw.source_lines.tolist() == [2, 3]
    assert json.loads(raw.raw_rows(np.array([0]))[0]) == {"id": "a", "d": "2024-01-02", "n": 3}


def test_last_line_cut_inside_a_quoted_value_is_malformed():
    raw = read_csv_raw(b'a,b\n1,"full"\n2,"cut sho')
    assert raw.records.to_pylist() == [{"a": "1", "b": "full"}]
    assert [(m.source_line, m.raw_row) for m in raw.malformed] == [(3, '2,"cut sho')]
    assert "unterminated quote" in raw.malformed[0].detail
