"""warehouse.engines.spark: the warehouse folder is the catalog (a later engine sees what an earlier
one wrote; a dropped table's files go), portable SQL is translated, and nothing is downloaded."""

from __future__ import annotations

import pyarrow as pa
import pytest

from warehouse.db import ensure_schemas, make_engine, query, table_exists, table_names, write_table
from warehouse.engines import backend
from warehouse.engines.spark import spark_sql

pytestmark = [pytest.mark.spark, pytest.mark.on_spark]


def test_portable_sql_becomes_spark_sql_with_exact_medians():
    sql = "SELECT CAST(x AS VARCHAR) AS t, PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY y) AS m FROM a.b GROUP BY 1"
    translated = spark_sql(sql)
    assert "PERCENTILE(y, 0.5)" in translated and "APPROX" not in translated.upper()
    assert "CAST(x AS STRING)" in translated


def test_a_later_engine_on_the_same_folder_sees_the_tables_and_a_drop_removes_the_files(warehouse_for, tmp_path, helpers):
    helpers.require_spark()
    url = warehouse_for("spark", tmp_path)
    first = make_engine(url)
    ensure_schemas(first)
    write_table(first, "analytics", "t", pa.table({"x": pa.array([1, 2, 3], pa.int64()), "d": pa.array(["a", None, "c"])}))
    folder = tmp_path / "spark-warehouse" / "analytics.db" / "t"
    assert any(p.suffix == ".parquet" for p in folder.iterdir())
    other = make_engine(f"spark+local://{tmp_path / 'elsewhere'}")      # another warehouse: the catalog forgets t
    assert not table_exists(other, "analytics", "t")
    again = make_engine(url)                                            # back to the first folder: t is there
    assert table_names(again, "analytics") == ["t"]
    assert sorted(query(again, "SELECT x FROM analytics.t")["x"].to_pylist()) == [1, 2, 3]
    assert query(again, "SELECT d FROM analytics.t ORDER BY x")["d"].to_pylist() == ["a", None, "c"]
    with pytest.raises(ValueError, match="has no column y"):          # appended columns match by name, none dropped
        backend(again).load_arrow("analytics.t", pa.table({"x": [4], "y": ["new"]}), replace=False)
    backend(again).run(["DROP TABLE IF EXISTS analytics.t CASCADE"])
    assert not folder.exists() and not table_exists(again, "analytics", "t")
