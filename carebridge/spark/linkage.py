"""Linkage on Splink's Spark backend: the same model (`linkage/probabilistic.yaml`), the same code.

`SplinkLinker(db_api=spark_splink(spark))` scores candidate pairs with `SparkAPI` instead of
DuckDB: the comparison records become the temporary view `cmp`, Splink runs blocking, training
and prediction as Spark SQL (its similarity functions come from the jar inside the splink package,
`carebridge.spark.session.splink_jar`), and the kept pairs come back as Arrow. The model's levels
are written in DuckDB's SQL and translated by Splink (sqlglot); the one function name sqlglot
renders that the jar does not define (`jarowinkler_similarity`) is registered as the jar's
Jaro-Winkler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from carebridge.linkage.splink_linker import SplinkDatabase

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["spark_splink"]

_ALIASES = {"jarowinkler_similarity": "uk.gov.moj.dash.linkage.JaroWinklerSimilarity"}


def _register_aliases(spark: SparkSession) -> None:
    from pyspark.sql.types import DoubleType

    for name, java_class in _ALIASES.items():
        spark.udf.registerJavaFunction(name, java_class, DoubleType())


def spark_splink(spark: SparkSession, break_lineage_method: str = "persist",
                 partitions: int | None = None) -> SplinkDatabase:
    """A `SplinkDatabase` on `spark`. `break_lineage_method`: Splink's way of cutting a long plan
    (`persist` in executor memory; `parquet` writes under the SparkContext's checkpoint folder, the
    choice for a cluster); `partitions`: Splink's repartition after blocking (default: Splink's)."""

    @contextlib.contextmanager
    def session(cmp: pa.Table) -> Iterator[tuple[Any, Callable[[str], pa.Table]]]:
        from splink.backends.spark import SparkAPI

        _register_aliases(spark)
        frame = spark.createDataFrame(cmp)
        frame.createOrReplaceTempView("cmp")
        api = SparkAPI(spark_session=spark, break_lineage_method=break_lineage_method,
                       num_partitions_on_repartition=partitions)
        try:
            yield api, lambda sql: spark.sql(sql).toArrow()
        finally:
            spark.catalog.dropTempView("cmp")
            spark.catalog.clearCache()

    return session
