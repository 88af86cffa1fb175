"""At fault_rate 0.05 every fault kind appears, about as often as the rate says, exactly where
faults.csv says, with the effect faults.yaml declares."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

from carebridge.core.nhs_number import is_valid
from carebridge.core.reference import codes
from carebridge.synthetic.config import faults as fault_spec

RATE = 0.05
TRUTH_TABLES = ("records", "referrals", "contacts", "care_plans", "scores")


def _faults(faulty, truth_table) -> list[dict[str, str]]:
    return truth_table(faulty.truth, "faults")


def _by_kind(rows) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list] = defaultdict(list)
    for row in rows:
        out[row["kind"]].append(row)
    return out


def _files(faulty, landed) -> dict[tuple[str, str, str, str, str], object]:
    return {(f.source, f.provider, f.month, f.submission, f.table): f for f in landed(faulty.landing)}


def _file_of(fault, files):
    key = ("source", "provider_ods", "reporting_month", "submission_id", "table")
    return files[tuple(fault[k] for k in key)]


def test_every_fault_kind_appears_with_its_declared_effect(faulty, truth_table):
    spec = fault_spec()
    declared = {kind: body["effect"] for level in ("record", "row", "file") for kind, body in spec[level].items()}
    seen = {(row["kind"], row["effect"]) for row in _faults(faulty, truth_table)}
    assert seen == set(declared.items())
    assert faulty.summary.faults == dict(sorted(Counter(r["kind"] for r in _faults(faulty, truth_table)).items()))


def test_record_and_row_faults_occur_at_about_the_rate(faulty):
    manifest = json.loads((faulty.truth / "manifest.json").read_text(encoding="utf-8"))
    counts, chances = manifest["counts"]["faults"], manifest["counts"]["fault_opportunities"]
    for kind in [*fault_spec()["record"], *fault_spec()["row"]]:
        expected = RATE * chances[kind]
        assert expected >= 5, kind
        assert abs(counts[kind] - expected) <= 4 * math.sqrt(expected) + 1, (kind, counts[kind], expected)


def test_file_faults_hit_a_few_files(faulty, truth_table):
    manifest = json.loads((faulty.truth / "manifest.json").read_text(encoding="utf-8"))
    chances = manifest["counts"]["fault_opportunities"]
    for kind, rows in _by_kind(_faults(faulty, truth_table)).items():
        if kind not in fault_spec()["file"]:
            continue
        units = {(r["provider_ods"], r["reporting_month"]) if kind == "resubmitted_month" else
                 (r["provider_ods"], r["reporting_month"], r["table"]) for r in rows}
        assert 1 <= len(units) <= max(3, 4 * RATE * chances[kind]), kind


def test_quarantined_records_are_still_in_the_truth(faulty, truth_table):
    truth = {(r["source"], r["provider_ods"], r["table"], r["local_id"])
             for name in TRUTH_TABLES for r in truth_table(faulty.truth, name)}
    quarantined = [r for r in _faults(faulty, truth_table) if r["effect"] == "quarantined"]
    assert quarantined
    assert all((r["source"], r["provider_ods"], r["table"], r["local_id"]) in truth for r in quarantined)


def _rows_of(fault, files) -> list[dict[str, str]]:
    f = _file_of(fault, files)
    return [dict(zip(f.columns, row)) for row in f.rows if row and row[0] == fault["local_id"]]


def test_record_faults_are_in_the_delivered_rows(faulty, landed, truth_table):
    files, kinds = _files(faulty, landed), _by_kind(_faults(faulty, truth_table))
    nhs = {"patient": "nhs_number", "person": "nhs_number", "MHS001MPI": "NHSNumber", "IDS001MPI": "NHSNumber"}
    for fault in kinds["invalid_nhs_number"]:
        numbers = [row[nhs[fault["table"]]] for row in _rows_of(fault, files)]
        assert numbers and all(n and not is_valid(n) for n in numbers)
    for fault in kinds["missing_nhs_number"]:
        assert all(row[nhs[fault["table"]]] == "" for row in _rows_of(fault, files))
    for fault in kinds["unknown_code"]:
        assert all(row.get("AttendStatus", row.get("AttendOrDNACode")) == "8" for row in _rows_of(fault, files))
    for fault in kinds["date_out_of_range"]:
        if "CareContDate" not in _file_of(fault, files).columns and fault["table"].endswith("CareContact"):
            continue  # the whole file lost the column (missing_required_column)
        dates = [row.get("start") or row.get("CareContDate") or row.get("contact_date")
                 for row in _rows_of(fault, files)]
        assert dates and all(d[:4] in ("1890", "2099") for d in dates)
    for fault in kinds["score_out_of_range"]:
        measure = fault["detail"].split()[0]
        values = [float(row.get("PersScore") or row.get("value")) for row in _rows_of(fault, files)]
        assert values and all(v > codes()["measures"][measure]["max"] for v in values)
    for fault in kinds["discharge_before_receipt"]:
        rows = _rows_of(fault, files)
        assert rows and all((row.get("ServDischDate") or row.get("closed_date")) <
                            (row.get("ReferralRequestReceivedDate") or row.get("referral_date")) for row in rows)


def test_duplicate_rows_repeat_the_line_straight_after_itself(faulty, landed, truth_table):
    files = _files(faulty, landed)
    for fault in _by_kind(_faults(faulty, truth_table))["duplicate_row"][:200]:
        rows = _file_of(fault, files).rows
        at = [i for i, row in enumerate(rows) if row[0] == fault["local_id"]]
        assert len(at) >= 2 and rows[at[0]] == rows[at[0] + 1]


def test_file_faults_are_in_the_files(faulty, landed, truth_table):
    files, kinds = _files(faulty, landed), _by_kind(_faults(faulty, truth_table))
    for fault in kinds["truncated_last_line"]:
        f = _file_of(fault, files)
        assert not f.complete_last_line and len(f.rows[-1]) < len(f.columns) and f.rows[-1][0] == fault["local_id"]
    for fault in kinds["windows_1252"]:
        assert _file_of(fault, files).encoding == "cp1252"
    for fault in kinds["missing_required_column"]:
        assert "CareContDate" not in _file_of(fault, files).columns
    v5 = {tuple(sorted(_file_of(fault, files).columns)) for fault in kinds["v5_column_names"]}
    assert any("AttendOrDNACode" in c for c in v5) and any("Gender" in c for c in v5)
    moved = [f for f in files.values() if f.table == "MHS102ServiceTypeReferredTo"]
    assert moved and moved[0].columns == ["ServiceRequestId", "LocalPatientId", "ServTeamTypeRefToMH"]
    referral = files[moved[0].source, moved[0].provider, moved[0].month, moved[0].submission, "MHS101Referral"]
    assert "ServTeamTypeRefToMH" not in referral.columns
    assert {row[0] for row in referral.rows} == {row[0] for row in moved[0].rows}


def test_resubmitted_months_have_an_earlier_partial_submission(faulty, landed, truth_table):
    files = _files(faulty, landed)
    for fault in _by_kind(_faults(faulty, truth_table))["resubmitted_month"]:
        early = _file_of(fault, files)
        if early.table == "MHS000Header":  # says when it was made, so differs
            continue
        later = [f for key, f in files.items() if key[:3] == (early.source, early.provider, early.month)
                 and key[4] == early.table and f.submission > early.submission]
        assert len(later) == 1
        assert {tuple(r) for r in early.rows} <= {tuple(r) for r in later[0].rows}
        assert len(early.rows) <= len(later[0].rows)


def test_clean_and_faulty_runs_share_the_same_truth(clean, faulty):
    for name in ("persons", "records", "referrals", "contacts", "care_plans", "scores"):
        assert (clean.truth / f"{name}.csv").read_bytes() == (faulty.truth / f"{name}.csv").read_bytes(), name
