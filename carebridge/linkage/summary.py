"""The linkage run's figures as a tidy table, so SQL on any engine can read them (no JSON functions)."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

__all__ = ["LINKAGE_SUMMARY_SCHEMA", "summary_table"]

LINKAGE_SUMMARY_SCHEMA = pa.schema([("run_id", pa.string()), ("measure", pa.string()), ("value", pa.int64())])


def summary_table(run_id: str, summary: Mapping[str, int]) -> pa.Table:
    """One row per figure of `PersonIndex.summary()` (records, persons, reviews_<kind>, ...), in its order."""
    return pa.table({"run_id": pa.array([run_id] * len(summary), pa.string()),
                     "measure": pa.array(list(summary), pa.string()),
                     "value": pa.array([int(v) for v in summary.values()], pa.int64())},
                    schema=LINKAGE_SUMMARY_SCHEMA)
