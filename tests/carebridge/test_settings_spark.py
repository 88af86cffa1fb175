"""carebridge.core.settings: Spark warehouse URLs and settings, read in one place (no Spark started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carebridge.core.settings import Settings, default_warehouse_url, is_spark_url, spark_settings


def test_the_engine_setting_picks_the_default_warehouse_of_the_output_folder(tmp_path):
    assert Settings.resolve(out=tmp_path, environ={}).url.startswith("duckdb:///")
    spark = Settings.resolve(out=tmp_path, environ={"CAREBRIDGE_ENGINE": "spark"})
    assert spark.url == f"spark+local://{(tmp_path / 'spark-warehouse').resolve()}"
    assert spark.spark.master == "local[2]" and spark.spark.warehouse_dir == (tmp_path / "spark-warehouse").resolve()
    with pytest.raises(ValueError, match="engine must be one of"):
        default_warehouse_url(tmp_path, "oracle")


def test_spark_urls_name_a_master_a_folder_or_a_connect_server(tmp_path):
    env = {"CAREBRIDGE_SPARK_MASTER": "local[4]", "CAREBRIDGE_SPARK_CATALOG": "main",
           "CAREBRIDGE_SPARK_CONF": "spark.driver.memory=4g, spark.sql.shuffle.partitions=8"}
    local = spark_settings("spark+local:///data/wh", environ=env)
    assert (local.master, local.warehouse_dir, local.catalog) == ("local[4]", Path("/data/wh"), "main")
    assert dict(local.conf) == {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "8"}
    cluster = spark_settings("spark://head:7077/shared/wh", out=tmp_path, environ={})
    assert (cluster.master, cluster.warehouse_dir) == ("spark://head:7077", Path("/shared/wh"))
    assert spark_settings("spark://head:7077", out=tmp_path, environ={}).warehouse_dir == tmp_path / "spark-warehouse"
    connect = spark_settings("sc://gateway:15002", environ={})
    assert (connect.connect, connect.master) == ("sc://gateway:15002", "")
    assert is_spark_url("sc://x") and not is_spark_url("duckdb:///x.duckdb")
    with pytest.raises(ValueError, match="not a Spark warehouse URL"):
        spark_settings("postgresql://host/db")
    with pytest.raises(ValueError, match="is not key=value"):
        spark_settings("spark+local:///x", environ={"CAREBRIDGE_SPARK_CONF": "oops"})


def test_the_session_factory_refuses_settings_that_download_packages():
    from carebridge.core.settings import SparkSettings
    from warehouse.engines.spark import spark_session

    pytest.importorskip("pyspark")
    with pytest.raises(ValueError, match="never downloads"):
        spark_session(SparkSettings(conf=(("spark.jars.packages", "org.example:thing:1.0"),)))
