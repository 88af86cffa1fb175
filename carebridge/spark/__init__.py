"""carebridge's Python stages on Apache Spark executors (issue 13), one codebase with the other engines.

Nothing here re-implements a stage: each module hands the existing pure function of a stage to the
executors and gathers what it returns (docs/internals.md, "Spark: how each stage partitions").
- `carebridge.spark.staging.stage_landing_spark`: `staging.files.process_file` over the landed files;
- `carebridge.spark.linkage.spark_splink`: the Splink model of `linkage/probabilistic.yaml` on
  Splink's Spark backend (`SplinkLinker(db_api=...)`);
- `carebridge.spark.fhir.write_fhir_export_spark`: `fhir_mapping.export.map_shard` over person
  shards, NDJSON written partitioned, one part per shard and type, every part in the manifest.

Every function takes a `SparkSession`: the session comes from the warehouse's Spark engine (or any
session the caller built). pyspark is imported lazily, so importing this package never needs it.
Executors read and write files under the landing and output folders, so on a cluster these must be
on storage every node sees (a DBFS/Unity volume, NFS, or a mounted object store).
"""
