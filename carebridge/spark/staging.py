"""Staging on Spark: `staging.files.process_file` for each landed file on the executors.

`stage_landing(landing, months, file_map=spark_file_map(spark))` is staging itself: the landing
scan, the latest-submission rule, consolidation across files and the load audit run on the driver
as on every engine; only the per-file work (open without following links, decode, parse, check
every row, quarantine) is distributed, a few tasks per core. Results come back in the files' order,
so the quarantine and load audit are row for row what the in-process staging gives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from carebridge.staging.files import FileResult
from carebridge.staging.landing import LandedFile
from carebridge.staging.stage import FileMap, StagingResult, stage_landing

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["spark_file_map", "stage_landing_spark"]


def spark_file_map(spark: SparkSession) -> FileMap:
    """A FileMap running each file's staging as one Spark task."""

    def run(stage_one: Callable[[LandedFile], FileResult], files: list[LandedFile]) -> list[FileResult]:
        if not files:
            return []
        sc = spark.sparkContext
        # a few tasks per core, each staging a run of files (a task per file costs more than a small file)
        return sc.parallelize(files, min(len(files), 4 * sc.defaultParallelism)).map(stage_one).collect()

    return run


def stage_landing_spark(spark: SparkSession, landing: Path, months: list[str] | None = None) -> StagingResult:
    """`stage_landing` with the files read and checked on Spark's executors."""
    return stage_landing(landing, months, file_map=spark_file_map(spark))
