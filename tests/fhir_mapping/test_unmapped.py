"""Rows that cannot be mapped are reported with a reason and their lineage, never dropped; missing
or empty input tables are fine."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from fhir_mapping import UNMAPPED_SCHEMA, map_resources


def _reasons(result) -> set[tuple[str, str, str]]:
    u = result.unmapped
    return set(zip(u["table_name"].to_pylist(), u["local_id"].to_pylist(), u["reason"].to_pylist()))


def test_unmapped_rows_have_reasons(result):
    assert result.unmapped.schema == UNMAPPED_SCHEMA
    assert _reasons(result) == {
        ("referral", "R4", "person_not_linked"),             # GP patient GX is not in the index
        ("referral", "VR9", "person_not_linked"),            # VCSE person V9 is not in the index
        ("MHS201CareContact", "C3", "person_not_linked"),
        ("MHS606CodedScoreAssessmentRefer", "AS2", "referral_not_found"),
        ("contact", "VC2", "referral_not_found"),
        ("coded_event", "E4", "unknown_snomed_code"),
        ("coded_event", "E5", "missing_value"),              # a GAD-7 code without a score
        ("coded_event", "E6", "out_of_scope_code_kind"),     # referrals come from referral.csv
        ("appointment", "A2", "out_of_scope_staff_role"),    # a GP appointment, not mental health
    }
    row = result.unmapped.filter(pa.compute.equal(result.unmapped["local_id"], "C3")).to_pylist()[0]
    assert row["source"] == "mhsds" and row["provider_ods"] == "RZZ" and row["source_line"] == 4


def test_every_source_row_is_mapped_or_unmapped(result, staged):
    """Rows in = resources made from rows + unmapped rows (reconciliation)."""
    rows_in = sum(t.num_rows for k, t in staged.items() if k != "gp.patient")
    made = {"ServiceRequest", "Encounter", "CarePlan", "Observation", "Condition"}
    assert rows_in == sum(len(result.resources[t]) for t in made) + result.unmapped.num_rows


def test_duplicate_local_ids_are_reported_not_mapped_twice(build, reference, index):
    row = {"CarePlanID": "CP1", "LocalPatientId": "M1", "CarePlanTypeMH": "12",
           "CarePlanCreatDate": dt.date(2025, 1, 1)}
    staged = {"mhsds.MHS008CarePlanType": build.staged_table("mhsds", "RZZ", [row, row])}
    result = map_resources(staged, index, reference)
    assert len(result.resources["CarePlan"]) == 1
    assert _reasons(result) == {("MHS008CarePlanType", "CP1", "duplicate_record")}


def test_missing_and_empty_tables(build, reference, index):
    empty = build.staged_table("mhsds", "RZZ", [])
    result = map_resources({"mhsds.MHS101Referral": empty}, index, reference)
    assert result.unmapped.num_rows == 0
    assert len(result.resources["Patient"]) == 2
    assert result.resources["ServiceRequest"] == [] and result.referral_matches.num_rows == 0
    # Every reference organisation and service is still published.
    assert len(result.resources["Organization"]) == reference.organisations.num_rows
    assert len(result.resources["HealthcareService"]) == reference.services.num_rows


def test_ods_code_missing_from_reference_is_kept_with_warning(build, reference, index):
    staged = {"gp.referral": build.staged_table("gp", "Z90001", [
        {"referral_id": "R1", "patient_id": "G1", "referral_date": dt.date(2025, 1, 1),
         "snomed_code": "871731000000106", "target_ods": "8XX99"}])}
    result = map_resources(staged, index, reference)
    unknown = [o for o in result.resources["Organization"] if o["identifier"][0]["value"] == "8XX99"]
    assert len(unknown) == 1 and "name" not in unknown[0]
    assert any("8XX99" in w for w in result.warnings)
    sr = result.resources["ServiceRequest"][0]
    assert sr["performer"][0]["reference"] == f"Organization/{unknown[0]['id']}"
