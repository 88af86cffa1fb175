"""A process that ran the pipeline's warehouse code exits quietly: no nanobind "leaked instances"
report from DuckDB at interpreter exit (pipelines.resources releases the DuckDB dialect's hold on
SQLAlchemy; Great Expectations, loaded in every pipeline process, is what keeps it alive)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

_SCRIPT = """
import great_expectations
from pipelines.resources import CarebridgeResource
from warehouse.db import query
resource = CarebridgeResource(landing_dir=".", out_dir=".", warehouse_url="duckdb:///{path}")
assert query(resource.engine, "SELECT 1 AS x")["x"].to_pylist() == [1]
resource.dispose()
"""


def test_using_the_duckdb_warehouse_leaves_no_leak_report_at_exit(tmp_path):
    script = _SCRIPT.format(path=tmp_path / "warehouse.duckdb")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "nanobind" not in done.stderr and "leaked" not in done.stderr
