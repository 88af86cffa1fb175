"""A local Spark session with what carebridge's stages need, downloading nothing.

The warehouse's Spark engine owns the session of a real run (`warehouse.engines.spark`); this is
the same configuration for a single machine: `local[N]`, executors running this interpreter, and
Splink's similarity functions from the jar inside the splink package (`spark.jars` is a local
path, so nothing is resolved from Maven)."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["local_session", "splink_jar", "stage_config"]


def splink_jar() -> str:
    """The path of Splink's Scala similarity UDFs for the installed Spark (shipped inside splink)."""
    from splink.internals.spark.jar_location import similarity_jar_location

    return similarity_jar_location()


def stage_config() -> dict[str, str]:
    """Settings the Python stages rely on: executors run this interpreter; Splink's jar loaded."""
    return {"spark.pyspark.python": sys.executable, "spark.pyspark.driver.python": sys.executable,
            "spark.jars": splink_jar()}


def local_session(master: str = "local[2]", app_name: str = "carebridge") -> SparkSession:
    from pyspark.sql import SparkSession

    # pyspark starts local Python workers with $PYSPARK_PYTHON (else `python3`, which may lack
    # carebridge's packages); `spark.pyspark.python` is read by spark-submit only.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="carebridge-spark-warehouse-"))
               .config("spark.driver.memory", "2g"))
    for key, value in stage_config().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
