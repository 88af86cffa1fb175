"""Staging with the files read and checked on Spark executors gives what in-process staging gives,
on a landing area with every file and row fault: the same staged tables, quarantine and load audit."""

from __future__ import annotations

from carebridge.spark.staging import stage_landing_spark
from carebridge.staging import reconcile


def test_spark_staging_equals_in_process_staging(spark, faulty_system, faulty_staged):
    on_spark = stage_landing_spark(spark, faulty_system)
    local = faulty_staged
    assert local.quarantine.num_rows > 20 and local.summary()["files_by_status"].get("rejected", 0) > 0
    assert on_spark.load_audit.equals(local.load_audit)
    assert on_spark.quarantine.equals(local.quarantine)
    assert on_spark.tables.keys() == local.tables.keys()
    for key, table in local.tables.items():
        assert on_spark.tables[key].equals(table), key
    assert on_spark.extras.keys() == local.extras.keys()
    assert on_spark.ignored_files == local.ignored_files
    assert reconcile(on_spark.load_audit) == []


def test_spark_staging_of_one_month(spark, faulty_system):
    from carebridge.staging import stage_landing

    month = ["2025-06"]
    assert stage_landing_spark(spark, faulty_system, month).load_audit.equals(
        stage_landing(faulty_system, month).load_audit)
