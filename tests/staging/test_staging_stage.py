"""stage_landing end to end on tiny landing areas."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from carebridge.staging import STAGED_TABLES, empty_table, reconcile, stage_landing
from carebridge.staging.audit import LOAD_AUDIT_SCHEMA, QUARANTINE_SCHEMA


def audit_row(result, table_name: str, **match) -> dict:
    rows = [r for r in result.load_audit.to_pylist()
            if r["table_name"] == table_name and all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, rows
    return rows[0]


def reasons(result) -> list[tuple[int, str]]:
    return list(zip(result.quarantine["source_line"].to_pylist(), result.quarantine["reason_code"].to_pylist()))


def test_empty_landing_gives_every_table_with_its_schema(tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "organisations.csv").write_text("ods_code,name\nX,Y\n")
    result = stage_landing(tmp_path)
    assert set(result.tables) == set(STAGED_TABLES)
    assert all(t.schema == empty_table(n).schema and t.num_rows == 0 for n, t in result.tables.items())
    assert result.load_audit.schema == LOAD_AUDIT_SCHEMA and result.quarantine.schema == QUARANTINE_SCHEMA
    assert result.summary()["files"] == 0


def test_good_file_is_staged_typed_with_metadata(landing):
    landing.csv("gp", "patient", landing.PATIENT_HEADER,
                [landing.patient("P1", nhs="943 476 5919"), landing.patient("P2", nhs="9434765918"),
                 landing.patient("P3", nhs="")])
    result = stage_landing(landing.root)
    table = result.tables["gp.patient"]
    assert table.schema == empty_table("gp.patient").schema
    rows = table.to_pylist()
    assert [r["nhs_number"] for r in rows] == ["9434765919", None, None]
    assert [r["nhs_number_check"] for r in rows] == ["valid", "invalid", "missing"]
    assert rows[0]["birth_date"].isoformat() == "1980-05-01"
    assert rows[0]["type1_objection"] is False
    assert {(r["provider_ods"], r["reporting_month"], r["submission_id"]) for r in rows} == {
        ("ODS1", "2024-01", "20240105T0900")}
    assert rows[0]["source_file"] == "gp/ODS1/2024-01/20240105T0900/patient.csv"
    assert [r["source_line"] for r in rows] == [2, 3, 4]
    audit = audit_row(result, "patient")
    assert (audit["rows_read"], audit["rows_staged"], audit["file_status"], audit["encoding"]) == (3, 3, "loaded", "utf-8")
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def test_quarantine_keeps_the_raw_line_and_reason(landing):
    rows = [landing.patient("P1"), landing.patient("P2", birth_date="1980-02-30"), landing.patient("P1"),
            landing.patient("P1", given_name="Bo"), landing.patient("P4", sex="Q")]
    path = landing.csv("gp", "patient", landing.PATIENT_HEADER, rows)
    result = stage_landing(landing.root)
    assert reasons(result) == [(3, "invalid_date"), (4, "duplicate_row"), (5, "duplicate_key"), (6, "unknown_code")]
    lines = path.read_text().splitlines()
    assert result.quarantine["raw_row"].to_pylist() == [lines[2], lines[3], lines[4], lines[5]]
    assert set(result.quarantine["table_name"].to_pylist()) == {"patient"}
    assert audit_row(result, "patient")["rows_quarantined"] == 4
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def test_bom_windows_1252_and_case_insensitive_headers(landing):
    header = [h.upper() for h in landing.PATIENT_HEADER]
    landing.csv("gp", "patient", header, [landing.patient("P1", family_name="Zo\u00eb")], encoding="cp1252")
    landing.csv("vcse", "Person", ["Person_ID", "NHS_Number"], [["V1", "9434765919"]], prefix=b"\xef\xbb\xbf")
    result = stage_landing(landing.root)
    assert result.tables["gp.patient"]["family_name"].to_pylist() == ["Zo\u00eb"]
    assert audit_row(result, "patient")["encoding"] == "windows-1252"
    assert result.tables["vcse.person"]["person_id"].to_pylist() == ["V1"]
    assert audit_row(result, "person")["encoding"] == "utf-8-sig"


def test_v5_aliases_are_resolved_and_recorded(landing):
    landing.csv("mhsds", "MHS201CareContact",
                ["CareContactId", "ServiceRequestId", "LocalPatientId", "CareContDate", "AttendOrDNACode"],
                [["C1", "R1", "P1", "2024-01-04", "5"]])
    landing.csv("mhsds", "MHS001MPI", ["LocalPatientId", "PersonBirthDate", "gender"], [["P1", "1970-01-01", "2"]])
    result = stage_landing(landing.root)
    assert result.tables["mhsds.MHS201CareContact"]["AttendStatus"].to_pylist() == ["5"]
    assert result.tables["mhsds.MHS001MPI"]["GenderIDCode"].to_pylist() == ["2"]
    assert audit_row(result, "MHS201CareContact")["aliases_used"] == "AttendOrDNACode->AttendStatus"
    assert audit_row(result, "MHS001MPI")["aliases_used"] == "gender->GenderIDCode"


def test_v5_team_type_comes_from_mhs102(landing):
    header = [h for h in landing.REFERRAL_HEADER if h != "ServTeamTypeRefToMH"]
    landing.csv("mhsds", "MHS101Referral", header, [["R1", "P1", "A1", "2024-01-03", ""], ["R2", "P1", "A1", "2024-01-03", ""]])
    landing.csv("mhsds", "MHS102ServiceTypeReferredTo", ["ServiceRequestId", "ServTeamTypeRefToMH"],
                [["R1", "A14"], ["R1", "A06"]])
    result = stage_landing(landing.root)
    staged = result.tables["mhsds.MHS101Referral"]
    assert staged.select(["ServiceRequestId", "ServTeamTypeRefToMH", "team_type_check"]).to_pylist() == [
        {"ServiceRequestId": "R1", "ServTeamTypeRefToMH": "A14", "team_type_check": "recognised"}]
    assert reasons(result) == [(3, "missing_required")]  # R2 has no team type anywhere
    audit = audit_row(result, "MHS101Referral")
    assert audit["aliases_used"] == "MHS102ServiceTypeReferredTo.ServTeamTypeRefToMH->ServTeamTypeRefToMH"
    assert result.tables["mhsds.MHS102ServiceTypeReferredTo"].num_rows == 2
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def test_unknown_columns_are_kept_aside(landing):
    landing.csv("vcse", "person", ["person_id", "favourite_colour", "shoe size"], [["V1", "blue", "9"]])
    result = stage_landing(landing.root)
    assert "favourite_colour" not in result.tables["vcse.person"].column_names
    assert audit_row(result, "person")["unknown_columns"] == "favourite_colour;shoe size"
    (extras,) = result.extras.values()
    assert extras.to_pylist() == [{"source_line": 2, "favourite_colour": "blue", "shoe size": "9"}]


def test_missing_required_column_rejects_only_that_file(landing):
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1")])
    landing.csv("gp", "coded_event", ["event_id", "patient_id", "event_date"], [["E1", "P1", "2024-01-02"],
                                                                                ["E2", "P1", "2024-01-03"]])
    result = stage_landing(landing.root)
    assert result.tables["gp.patient"].num_rows == 1
    audit = audit_row(result, "coded_event")
    assert (audit["file_status"], audit["rows_read"], audit["rows_quarantined"]) == ("rejected", 2, 2)
    rejected = result.quarantine.filter(pc.equal(result.quarantine["table_name"], "coded_event")).to_pylist()
    assert [(r["source_line"], r["reason_code"]) for r in rejected] == [
        (0, "missing_required_column"), (2, "missing_required_column"), (3, "missing_required_column")]
    assert rejected[0]["raw_row"] == "event_id,patient_id,event_date"
    assert rejected[0]["detail"] == "missing: snomed_code"
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def test_truncated_last_line_is_quarantined_as_malformed(landing):
    text = "".join(",".join(r) + "\n" for r in [landing.PATIENT_HEADER, landing.patient("P1")]) + "P2,94347659"
    landing.csv("gp", "patient", [], [], text=text)
    result = stage_landing(landing.root)
    assert result.tables["gp.patient"]["patient_id"].to_pylist() == ["P1"]
    (bad,) = result.quarantine.to_pylist()
    assert (bad["source_line"], bad["reason_code"], bad["raw_row"]) == (3, "malformed_row", "P2,94347659")
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def test_unknown_table_file_is_quarantined_whole(landing):
    landing.csv("gp", "medication", ["drug"], [["x"], ["y"]])
    result = stage_landing(landing.root)
    audit = audit_row(result, "medication")
    assert (audit["file_status"], audit["rows_quarantined"]) == ("unknown_table", 2)
    assert set(result.quarantine["reason_code"].to_pylist()) == {"unknown_table"}


def test_parquet_input(landing):
    landing.parquet("vcse", "wellbeing_score", {
        "score_id": ["W1", "W2"], "referral_id": ["V1", "V1"], "measure": ["SWEMWBS", "SWEMWBS"],
        "item": ["total", "total"], "value": [21.0, 40.0], "recorded_date": ["2024-01-10", "2024-01-11"]})
    result = stage_landing(landing.root)
    table = result.tables["vcse.wellbeing_score"]
    assert table["value"].to_pylist() == [21.0] and table["source_line"].to_pylist() == [2]
    (bad,) = result.quarantine.to_pylist()
    assert bad["reason_code"] == "score_out_of_range" and '"value": 40.0' in bad["raw_row"]
    assert audit_row(result, "wellbeing_score")["encoding"] == "parquet"


def test_latest_submission_wins_even_when_an_earlier_one_arrives_late(landing):
    later = landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1", given_name="New")],
                        submission="20240110T0900")
    earlier = landing.csv("gp", "patient", landing.PATIENT_HEADER,
                          [landing.patient("P1", given_name="Old"), landing.patient("P2", birth_date="bad")],
                          submission="20240105T0900")
    os.utime(later, (1_000_000, 1_000_000))  # the earlier submission is the newer file on disk
    result = stage_landing(landing.root)
    assert result.tables["gp.patient"]["given_name"].to_pylist() == ["New"]
    old = audit_row(result, "patient", submission_id="20240105T0900")
    assert (old["file_status"], old["rows_read"], old["rows_superseded"], old["rows_quarantined"]) == (
        "superseded", 2, 2, 0)
    assert result.quarantine.num_rows == 0
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def test_latest_month_wins_for_a_repeated_record(landing):
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1", postcode="OLD"), landing.patient("P2")],
                month="2024-01")
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1", postcode="NEW")], month="2024-02",
                submission="20240205T0900")
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1", postcode="OTHER")], month="2024-01",
                ods="ODS2")
    result = stage_landing(landing.root)
    rows = {(r["provider_ods"], r["patient_id"]): r["postcode"] for r in result.tables["gp.patient"].to_pylist()}
    assert rows == {("ODS1", "P1"): "NEW", ("ODS1", "P2"): "LS1 1AA", ("ODS2", "P1"): "OTHER"}
    january = audit_row(result, "patient", reporting_month="2024-01", provider_ods="ODS1")
    assert (january["rows_staged"], january["rows_superseded"]) == (1, 1)
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []
    only_january = stage_landing(landing.root, months=["2024-01"])
    assert {r["postcode"] for r in only_january.tables["gp.patient"].to_pylist()} == {"OLD", "LS1 1AA", "OTHER"}


def test_reconcile_reports_broken_counts(landing):
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1"), landing.patient("P2", sex="Q")])
    result = stage_landing(landing.root)
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []
    broken = result.load_audit.set_column(
        result.load_audit.column_names.index("rows_staged"), "rows_staged", pa.array([2], pa.int64()))
    problems = reconcile(broken, result.quarantine, result.tables)
    assert any("rows_read 2 != staged 2 + quarantined 1" in p for p in problems)
    assert any("audit says 2 rows staged, found 1" in p for p in problems)


def test_summary_counts(landing):
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1"), landing.patient("P2", sex="Q")])
    summary = stage_landing(landing.root).summary()
    assert summary["rows_read"] == 2 and summary["rows_staged"] == 1 and summary["rows_quarantined"] == 1
    assert summary["quarantine_by_reason"] == {"unknown_code": 1}
    assert summary["tables"]["gp.patient"] == 1 and summary["files_by_status"] == {"loaded": 1}


def test_files_that_do_not_fit_the_layout_are_listed(landing):
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1")])
    stray = landing.root / "gp" / "ODS1" / "January" / "s1" / "patient.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text("patient_id\nP9\n")
    result = stage_landing(landing.root)
    assert result.ignored_files == ("gp/ODS1/January/s1/patient.csv",)
    assert result.tables["gp.patient"].num_rows == 1


@pytest.mark.parametrize("name", ["gp.patient", "mhsds.MHS101Referral", "vcse.referral"])
def test_every_staged_table_has_exact_schema_after_loading(landing, name):
    landing.csv("gp", "patient", landing.PATIENT_HEADER, [landing.patient("P1")])
    landing.csv("mhsds", "MHS101Referral", landing.REFERRAL_HEADER, [landing.referral("R1")])
    result = stage_landing(landing.root)
    assert result.tables[name].schema == empty_table(name).schema


def test_unreadable_file_is_reported_and_the_rest_loads(landing):
    landing.csv("vcse", "person", ["person_id"], [["V1"]])
    broken = landing.folder("vcse", "2024-01") / "contact.parquet"
    broken.write_bytes(b"not parquet at all")
    result = stage_landing(landing.root)
    assert result.tables["vcse.person"].num_rows == 1
    audit = audit_row(result, "contact")
    assert (audit["file_status"], audit["rows_read"]) == ("unreadable", 0)
    (row,) = result.quarantine.to_pylist()
    assert (row["source_line"], row["reason_code"]) == (0, "unreadable_file")
    assert reconcile(result.load_audit, result.quarantine, result.tables) == []


def test_fully_quoted_csv_with_commas_and_line_breaks(landing):
    text = ('"person_id","given_name","sex"\n"V1","Smith, Ann","F"\n"V2","Multi\nLine","Q"\n"V3","Bo","M"\n')
    landing.csv("vcse", "person", [], [], text=text)
    result = stage_landing(landing.root)
    assert result.tables["vcse.person"].select(["person_id", "given_name", "source_line"]).to_pylist() == [
        {"person_id": "V1", "given_name": "Smith, Ann", "source_line": 2},
        {"person_id": "V3", "given_name": "Bo", "source_line": 5}]
    (bad,) = result.quarantine.to_pylist()
    assert (bad["source_line"], bad["reason_code"], bad["raw_row"]) == (3, "unknown_code", '"V2","Multi\nLine","Q"')
