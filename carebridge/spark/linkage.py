"""Linkage on Splink's Spark backend: the same model (`linkage/probabilistic.yaml`), the same code.

`SplinkLinker(db_api=spark_splink(spark))` scores candidate pairs with `SparkAPI` instead of
DuckDB: the comparison records become the temporary view `cmp`, Splink runs blocking, training
and prediction as Spark SQL (its similarity functions come from the jar inside the splink package,
`spark.jars` of `warehouse.engines.spark.spark_session`), and the kept pairs come back as Arrow. The model's levels
are written in DuckDB's SQL and translated by Splink (sqlglot), as is the linker's own SQL (the
pairs it keeps) by `query`; DuckDB functions Spark lacks are registered on the session: the name
sqlglot gives Jaro-Winkler (`jarowinkler_similarity`) as the jar's, and `hamming` as a SQL function.
The string similarity functions are the jar's, not DuckDB's: a pair near a level's threshold may
land in another level, so the trained weights are close to DuckDB's, not equal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from carebridge.linkage.splink_linker import SplinkDatabase

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["spark_splink", "duckdb_sql_on_spark"]

_ALIASES = {"jarowinkler_similarity": "uk.gov.moj.dash.linkage.JaroWinklerSimilarity"}


_SQL_FUNCTIONS = [
    # DuckDB's hamming(a, b): positions where two strings of one length differ
    "CREATE OR REPLACE TEMPORARY FUNCTION hamming(a STRING, b STRING) RETURNS INT "
    "RETURN size(filter(sequence(1, length(a)), i -> substr(a, i, 1) != substr(b, i, 1)))",
]


def _register_functions(spark: SparkSession) -> None:
    from pyspark.sql.types import DoubleType

    for name, java_class in _ALIASES.items():
        spark.udf.registerJavaFunction(name, java_class, DoubleType())
    for statement in _SQL_FUNCTIONS:
        spark.sql(statement)


def duckdb_sql_on_spark(spark: SparkSession, sql: str) -> pa.Table:
    """DuckDB SQL (the linker's) translated by sqlglot and run on Spark, as Arrow."""
    import sqlglot

    return spark.sql(sqlglot.transpile(sql, read="duckdb", write="spark")[0]).toArrow()


def spark_splink(spark: SparkSession, break_lineage_method: str = "persist",
                 partitions: int | None = None) -> SplinkDatabase:
    """A `SplinkDatabase` on `spark`. `break_lineage_method`: Splink's way of cutting a long plan
    (`persist` in executor memory; `parquet` writes under the SparkContext's checkpoint folder, the
    choice for a cluster); `partitions`: Splink's repartition after blocking (default: Splink's)."""

    @contextlib.contextmanager
    def session(cmp: pa.Table) -> Iterator[tuple[Any, Callable[[str], pa.Table]]]:
        from splink.backends.spark import SparkAPI

        _register_functions(spark)
        frame = spark.createDataFrame(cmp)
        frame.createOrReplaceTempView("cmp")
        api = SparkAPI(spark_session=spark, break_lineage_method=break_lineage_method,
                       num_partitions_on_repartition=partitions)
        try:
            yield api, lambda sql: duckdb_sql_on_spark(spark, sql)
        finally:
            spark.catalog.dropTempView("cmp")
            spark.catalog.clearCache()

    return session
