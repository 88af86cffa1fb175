"""Splink's Spark backend runs the same model as DuckDB and gives the same people: every record
in the same cluster, by the same method, from the same candidate pairs. The trained weights are
close, not equal (Splink's sampling for u and EM is the backend's own: DuckDB and Spark draw
different random pairs), so they are not compared here."""

from __future__ import annotations

import pytest

from carebridge.linkage import SplinkLinker, build_person_index
from carebridge.spark.linkage import spark_splink

def _clusters(links) -> set[frozenset[tuple[str, str, str]]]:
    groups: dict[str, set] = {}
    for row in links.to_pylist():
        groups.setdefault(row["person_id"], set()).add((row["source"], row["provider_ods"], row["local_patient_id"]))
    return {frozenset(g) for g in groups.values()}


def test_splink_on_spark_gives_the_duckdb_clusters(spark, faulty_staged):
    on_duckdb = build_person_index(faulty_staged.tables, linker=SplinkLinker(), run="t")
    on_spark = build_person_index(faulty_staged.tables, linker=SplinkLinker(db_api=spark_splink(spark, partitions=2)), run="t")
    assert _clusters(on_spark.links) == _clusters(on_duckdb.links)
    assert on_duckdb.summary()["records_linked_probabilistically"] >= 5   # the model had work to do
    key = ["source", "provider_ods", "local_patient_id"]
    duck = on_duckdb.links.sort_by([(k, "ascending") for k in key]).to_pylist()
    spark_rows = on_spark.links.sort_by([(k, "ascending") for k in key]).to_pylist()
    assert [(r["person_id"], r["match_method"]) for r in spark_rows] == [(r["person_id"], r["match_method"]) for r in duck]
    assert on_spark.scored.pairs_compared == on_duckdb.scored.pairs_compared
