"""validate_table on a Spark DataFrame: GX's Spark datasource validates the table's own columns on
the cluster, carebridge's extensions run on the few columns they collect; the outcome is the one
the same table gives as Arrow."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from expectations.runner import validate_table

pytestmark = pytest.mark.spark

KEYS = [f"{i:064x}" for i in range(1, 4)]


def _person() -> pa.Table:
    return pa.table({"person_key": KEYS, "person_id": ["p1", "p2", "p3"]})


def _referral() -> pa.Table:
    """Faults of each kind: a null and a duplicate key, a foreign key that does not resolve, a
    code outside its list, dates out of order, a negative wait."""
    d = date
    return pa.table({
        "referral_key": ["r1", "r1", None],
        "person_key": [KEYS[0], "f" * 64, KEYS[2]],
        "service_key": ["s1", "s2", None],
        "source_setting": ["primary", "nowhere", "primary"],
        "referred_date": pa.array([d(2025, 1, 1), None, d(2025, 3, 1)]),
        "received_date": pa.array([d(2025, 1, 5), d(2025, 1, 10), d(2025, 2, 1)]),
        "priority": ["routine", "urgent", "routine"],
        "status": ["closed", "open", "not_received"],
        "wait_first_contact_days": pa.array([15, -2, None], pa.int64()),
        "attended_contacts": pa.array([6, 1, 0], pa.int64()),
        "dna_contacts": pa.array([1, 0, 0], pa.int64()),
    })


def _summary(result) -> dict:
    return {(o.expectation, o.column, o.check): (o.success, o.unexpected_count, o.severity) for o in result.results}


def test_a_spark_dataframe_gives_the_outcome_of_its_arrow_table(spark, tmp_path):
    related = {"analytics.person": _person(), "analytics.service": pa.table({"service_key": ["s1", "s2"]})}
    arrow = validate_table("analytics", "referral", _referral(), related=related)
    frame = spark.createDataFrame(_referral())
    on_spark = validate_table("analytics", "referral", frame, related=related, context_root=tmp_path / "gx")
    assert _summary(on_spark) == _summary(arrow)
    assert on_spark.evaluated_rows == 3 and not on_spark.passed_errors
    assert sum(1 for o in on_spark.results if not o.success) >= 4
    suites = {p.relative_to(tmp_path / "gx").as_posix() for p in (tmp_path / "gx").rglob("*.json")
              if "expectations" in p.parts}
    assert any(s.endswith("analytics/referral/spark.json") for s in suites), suites  # plain checks ran on Spark
