"""Property: whatever mix of good and bad rows lands, every row read is staged, quarantined or superseded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carebridge.staging import reconcile, stage_landing

ROW_KINDS = ["good", "bad_date", "missing", "bad_code", "old_date", "bad_nhs", "repeat", "short", "long"]


def make_row(landing_class, kind: str, pid: str, previous: list[list[str]]) -> list[str]:
    """One CSV row of the given kind (a list of fields; `short`/`long` have the wrong field count)."""
    row = landing_class.patient(pid)
    changes = {"bad_date": dict(birth_date="1980-02-31"), "missing": dict(sex=""), "bad_code": dict(sex="Q"),
               "old_date": dict(birth_date="1800-01-01"), "bad_nhs": dict(nhs_number="1234567890")}
    if kind in changes:
        row = landing_class.patient(pid, **changes[kind])
    if kind == "repeat" and previous:
        row = list(previous[-1])
    return row[:3] if kind == "short" else row + ["x"] if kind == "long" else row


file_rows = st.lists(st.tuples(st.sampled_from(ROW_KINDS), st.sampled_from(["P1", "P2", "P3", "P4"])), max_size=12)
deliveries = st.lists(
    st.tuples(st.sampled_from(["2024-01", "2024-02"]), st.sampled_from(["20240101T0900", "20240301T0900"]),
              st.sampled_from(["ODS1", "ODS2"]), file_rows),
    min_size=1, max_size=5, unique_by=lambda d: d[:3])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries)
def test_rows_read_always_reconcile(landing_class, plan):
    with tempfile.TemporaryDirectory() as tmp:
        landing = landing_class(Path(tmp))
        written = 0
        for month, submission, ods, kinds in plan:
            rows: list[list[str]] = []
            for kind, pid in kinds:
                rows.append(make_row(landing_class, kind, pid, rows))
            landing.csv("gp", "patient", landing.PATIENT_HEADER, rows, month=month, submission=submission, ods=ods)
            written += len(rows)
        result = stage_landing(landing.root)
        audit = result.load_audit
        assert reconcile(audit, result.quarantine, result.tables) == []
        assert sum(audit["rows_read"].to_pylist()) == written
        staged = result.tables["gp.patient"].to_pylist()
        keys = [(r["provider_ods"], r["patient_id"]) for r in staged]
        assert len(keys) == len(set(keys))  # one version of each record
