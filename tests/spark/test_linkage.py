"""Splink's Spark backend runs the same model as DuckDB and gives the same people: every record
in the same cluster, by the same method. The trained weights agree closely, not exactly: Splink's
sampling for u and EM is the backend's own (DuckDB and Spark draw different random pairs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carebridge.linkage import SplinkLinker, build_person_index
from carebridge.spark.linkage import spark_splink

PERSONS = 250
FAULT_RATE = 0.1


@pytest.fixture(scope="module")
def faulty_staged(shared_build):
    from carebridge.staging import stage_landing
    from carebridge.synthetic import generate

    folder: Path = shared_build(f"spark_linkage_{PERSONS}_{FAULT_RATE}", lambda f: generate(
        PERSONS, f / "landing", f / "truth", seed=11, fault_rate=FAULT_RATE))
    return stage_landing(folder / "landing").tables


def _clusters(links) -> set[frozenset[tuple[str, str, str]]]:
    groups: dict[str, set] = {}
    for row in links.to_pylist():
        groups.setdefault(row["person_id"], set()).add((row["source"], row["provider_ods"], row["local_patient_id"]))
    return {frozenset(g) for g in groups.values()}


def test_splink_on_spark_gives_the_duckdb_clusters(spark, faulty_staged):
    on_duckdb = build_person_index(faulty_staged, linker=SplinkLinker(), run="t")
    on_spark = build_person_index(faulty_staged, linker=SplinkLinker(db_api=spark_splink(spark, partitions=2)), run="t")
    assert on_duckdb.summary()["records_linked_probabilistically"] > 10   # the model had work to do
    assert _clusters(on_spark.links) == _clusters(on_duckdb.links)
    key = ["source", "provider_ods", "local_patient_id"]
    duck = on_duckdb.links.sort_by([(k, "ascending") for k in key]).to_pylist()
    spark_rows = on_spark.links.sort_by([(k, "ascending") for k in key]).to_pylist()
    assert [(r["person_id"], r["match_method"]) for r in spark_rows] == [(r["person_id"], r["match_method"]) for r in duck]
    for a, b in zip(spark_rows, duck):
        assert (a["match_weight"] is None) == (b["match_weight"] is None)
        if a["match_weight"] is not None:
            assert a["match_weight"] == pytest.approx(b["match_weight"], rel=0.02, abs=0.1)
    assert on_spark.scored.pairs_compared == on_duckdb.scored.pairs_compared
    assert on_spark.reviews.num_rows == on_duckdb.reviews.num_rows
