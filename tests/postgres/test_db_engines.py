"""warehouse.db on both engines: what goes in comes out, in bulk, with the same types and values.

Each test runs on DuckDB and on PostgreSQL (tests/conftest.py `warehouse_url`; the PostgreSQL
half is skipped, saying why, when CAREBRIDGE_TEST_PG_URL is not set).
"""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa

from warehouse.db import (append_table, execute, execute_each, query, read_table,
                          table_exists, write_table)

AWKWARD = pa.table({
    "text": ["plain", "", None, 'comma, "quote"\nnewline', "100% sure", "é ñ ö ’"],
    "MixedCase": [1, None, 3, 4, 5, -6],
    "flag": [True, False, None, True, False, True],
    "ratio": [1.5, float("nan"), None, 1e300, -0.0, 2.0 / 3.0],
    "day": pa.array([date(2025, 4, 1), None, date(1900, 1, 1), date(2099, 12, 31), date(2000, 2, 29), None]),
    "at": pa.array([datetime(2025, 4, 1, 9, 30, 5), None, None, None, None, None], pa.timestamp("s")),
})




def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal values (NaN equal to NaN), whatever the engine's integer and timestamp widths."""
    def norm(v):
        return "NaN" if isinstance(v, float) and v != v else v
    return a.column_names == b.column_names and [
        [norm(v) for v in a[c].to_pylist()] for c in a.column_names] == [[norm(v) for v in b[c].to_pylist()] for c in b.column_names]


def test_awkward_values_round_trip_exactly(engine):
    write_table(engine, "staging", "awkward", AWKWARD)
    back = read_table(engine, "staging", "awkward")
    assert _same(back, AWKWARD)
    assert [back.schema.field(c).type for c in ("text", "MixedCase", "flag", "ratio", "day")] == [
        pa.string(), pa.int64(), pa.bool_(), pa.float64(), pa.date32()]
    assert back["text"][1].as_py() == "" and back["text"][2].as_py() is None     # empty is not null


def test_write_replaces_and_append_adds(engine):
    write_table(engine, "analytics", "t", AWKWARD)
    write_table(engine, "analytics", "t", AWKWARD.slice(0, 2))
    assert read_table(engine, "analytics", "t").num_rows == 2
    append_table(engine, "staging", "log", AWKWARD.slice(0, 2))            # created when missing
    append_table(engine, "staging", "log", AWKWARD.slice(2, 4).select(list(reversed(AWKWARD.column_names))))
    assert _same(read_table(engine, "staging", "log"), AWKWARD)             # columns matched by name
    assert table_exists(engine, "staging", "log") and not table_exists(engine, "staging", "nope")


def test_a_percent_sign_in_sql_is_just_a_percent_sign(engine):
    execute(engine, "CREATE TABLE published.p AS SELECT '50%' AS share")
    execute_each(engine, ["INSERT INTO published.p VALUES ('a%b; c')"])
    assert sorted(query(engine, "SELECT share FROM published.p WHERE share LIKE '%\\%%' ESCAPE '\\'")["share"].to_pylist()) == [
        "50%", "a%b; c"]


def test_query_results_are_typed_even_when_empty(engine):
    write_table(engine, "reference", "n", pa.table({"x": [1, 2, 3]}))
    result = query(engine, "SELECT SUM(x) AS s, AVG(x) AS a, COUNT(*) AS c, MIN(x) > 1 AS b, "
                           "CAST('2025-01-02' AS DATE) AS d FROM reference.n;")
    assert result.to_pylist() == [{"s": 6, "a": 2.0, "c": 3, "b": False, "d": date(2025, 1, 2)}]
    empty = query(engine, "SELECT x, CAST(x AS VARCHAR) AS t FROM reference.n WHERE x > 10")
    assert empty.num_rows == 0 and empty.schema.field("x").type == pa.int64() and empty.schema.field("t").type == pa.string()


def test_large_tables_go_in_as_several_bulk_chunks(engine):
    n = 250_000  # more than one COPY chunk
    big = pa.table({"id": pa.array(range(n), pa.int64()), "label": pa.array([f"row {i}" for i in range(n)])})
    write_table(engine, "staging", "big", big)
    stats = query(engine, "SELECT COUNT(*) AS n, SUM(id) AS total, MAX(label) AS last FROM staging.big").to_pylist()[0]
    assert (stats["n"], int(stats["total"]), stats["last"]) == (n, n * (n - 1) // 2, "row 99999")
