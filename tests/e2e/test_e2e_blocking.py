"""A blocking Great Expectations error stops everything downstream, and `carebridge run` says why in
one line and exits non-zero. The landing data alone breaks the rule: an MHSDS header whose reporting
period ends before it starts (staging keeps it, the staged suite's error-severity check fails)."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.e2e


def test_a_blocking_check_failure_stops_the_run_with_a_one_line_reason(blocked_run):
    cli = blocked_run.json("cli.json")
    assert cli["exit_code"] == 1
    reason = cli["stderr"].strip().splitlines()
    assert len(reason) == 1, reason
    assert reason[0].startswith("carebridge: blocking check failed:")
    assert "gx_staged_mhsds_mhs000header" in reason[0]


def test_nothing_downstream_of_the_failed_check_ran(blocked_run):
    progress = blocked_run.json("cli.json")["stdout"]
    assert "staged: FAILED" in progress                         # the asset ran; its blocking check failed
    assert "person_index" not in progress and "fhir_resources" not in progress
    assert not (blocked_run.out / "fhir").exists()
    con = duckdb.connect(str(blocked_run.warehouse), read_only=True)
    try:
        names = con.sql("SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()
        tables = {name for (name,) in names}
    finally:
        con.close()
    assert "staging.stg_mhsds_mhs000header" in tables
    assert not {"linkage.person_index", "analytics.person", "published.pathways"} & tables
