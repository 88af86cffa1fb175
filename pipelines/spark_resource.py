"""The Spark resource: where the Python stages run when the warehouse is on Spark.

`SparkResource` wraps the warehouse's one session factory (`warehouse.engines.spark.spark_session`,
the same session the Spark engine uses) and hands each asset the stage function for its engine:
on DuckDB and PostgreSQL the in-process ones, on Spark the `carebridge.spark` ones, which run the
same pure functions on the executors. The assets and their checks are the same on every engine;
Great Expectations validates the tables each asset holds as Arrow (on Spark: collected from the
executors; the tables it checks are the staged rows, the views, the analytics and the published
tables), not Spark DataFrames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from carebridge.core.settings import is_spark_url, spark_settings
from carebridge.linkage import SplinkLinker
from carebridge.linkage.model import LinkageModel
from carebridge.staging.stage import FileMap, in_threads
from fhir_mapping.export import FhirExport, write_fhir_export
from pipelines.resources import CarebridgeResource

__all__ = ["SparkResource"]


class SparkResource(dg.ConfigurableResource):
    """Spark for the Python stages of a run whose warehouse URL is a Spark one (else unused).

    `fhir_partitioned`: write the NDJSON as one part per shard and type (every part in the
    manifest) instead of one file per type; off by default, since the views, bundles and Bulk Data
    server read one file per type today. `splink_break_lineage`: Splink's way of cutting long
    plans (`persist`; `parquet` under the checkpoint folder on a cluster)."""

    fhir_partitioned: bool = False
    splink_break_lineage: str = "persist"

    def session(self, carebridge: CarebridgeResource) -> Any | None:
        """The run's SparkSession when its warehouse is on Spark, else None (opens no warehouse)."""
        if not is_spark_url(carebridge.url):
            return None
        from warehouse.engines.spark import spark_session

        return spark_session(spark_settings(carebridge.url, carebridge.out))

    def file_map(self, carebridge: CarebridgeResource) -> FileMap:
        spark = self.session(carebridge)
        if spark is None:
            return in_threads
        from carebridge.spark.staging import spark_file_map

        return spark_file_map(spark)

    def linker(self, carebridge: CarebridgeResource, model: LinkageModel | None = None) -> SplinkLinker:
        spark = self.session(carebridge)
        if spark is None:
            return SplinkLinker(model)
        from carebridge.spark.linkage import spark_splink

        return SplinkLinker(model, db_api=spark_splink(spark, self.splink_break_lineage))

    def fhir_export(self, carebridge: CarebridgeResource) -> Callable[..., FhirExport]:
        """`write_fhir_export`, or its Spark form, with the same arguments."""
        spark = self.session(carebridge)
        if spark is None:
            return write_fhir_export
        from carebridge.spark.fhir import write_fhir_export_spark

        def on_spark(staged: Any, index: Any, reference: Any, out_dir: Path, transaction_time: str, *,
                     strict: bool = False, shards: int | None = None, **_: Any) -> FhirExport:
            return write_fhir_export_spark(spark, staged, index, reference, out_dir, transaction_time,
                                           shards=shards, strict=strict, partitioned=self.fhir_partitioned)

        return on_spark
