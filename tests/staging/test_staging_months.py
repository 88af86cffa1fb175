"""Months staged one by one, saved, loaded and consolidated agree with staging them all at once."""

from __future__ import annotations

from carebridge.staging import consolidate, load_month, reconcile, save_month, stage_landing, staged_table_keys
from carebridge.staging.tables import STAGED_TABLES


def _sorted(table):
    keys = [k for k in ("provider_ods", "source_file", "source_line") if k in table.column_names]
    return table.sort_by([(k, "ascending") for k in keys])


def _build(landing):
    h = landing.PATIENT_HEADER
    landing.csv("gp", "patient", h, [landing.patient("P1", postcode="OLD"), landing.patient("P2", sex="Q")],
                month="2024-01")
    landing.csv("gp", "patient", h, [landing.patient("P1", postcode="NEW")], month="2024-02", submission="20240206T0900")
    landing.csv("gp", "patient", h, [landing.patient("P1", postcode="EARLY")], month="2024-02", submission="20240201T0900")
    landing.csv("vcse", "person", ["person_id", "colour"], [["V1", "red"]], month="2024-02")


def test_consolidated_months_equal_one_run_over_all_months(landing, tmp_path):
    _build(landing)
    months_dir = tmp_path / "months"
    for month in ["2024-01", "2024-02"]:
        save_month(stage_landing(landing.root, months=[month]), months_dir / month)
        save_month(stage_landing(landing.root, months=[month]), months_dir / month)  # a re-run replaces
    combined = consolidate([load_month(months_dir / m) for m in ["2024-01", "2024-02"]])
    direct = stage_landing(landing.root)
    assert set(combined.tables) == set(STAGED_TABLES) == set(staged_table_keys())
    for name in STAGED_TABLES:
        assert _sorted(combined.tables[name]).equals(_sorted(direct.tables[name])), name
    assert _sorted(combined.load_audit).equals(_sorted(direct.load_audit))
    assert _sorted(combined.quarantine).equals(_sorted(direct.quarantine))
    assert set(combined.extras) == set(direct.extras) == {"vcse/ODS1/2024-02/20240105T0900/person.csv"}
    assert reconcile(combined.load_audit, combined.quarantine, combined.tables) == []
    assert combined.tables["gp.patient"].to_pylist()[0]["postcode"] == "NEW"


def test_load_month_of_nothing_and_consolidate_of_nothing(tmp_path):
    empty = load_month(tmp_path / "never-written")
    assert all(t.num_rows == 0 for t in empty.tables.values()) and empty.load_audit.num_rows == 0
    assert consolidate([]).summary()["files"] == 0
