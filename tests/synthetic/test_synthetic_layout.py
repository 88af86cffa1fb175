"""The landing area has the layout, file names and columns of shared/spec/extracts.md."""

from __future__ import annotations

import re
from datetime import date, timedelta

from carebridge.core.reference import load_reference
from carebridge.synthetic import extract_columns

# Typed from shared/spec/extracts.md on purpose: if extracts.yaml drifts from the spec, these fail.
SPEC_TABLES = {
    "gp": {"patient", "coded_event", "referral", "appointment"},
    "mhsds": {"MHS000Header", "MHS001MPI", "MHS002GP", "MHS101Referral", "MHS201CareContact",
              "MHS008CarePlanType", "MHS606CodedScoreAssessmentRefer"},
    "talking_therapies": {"IDS001MPI", "IDS101Referral", "IDS201CareContact", "IDS606CodedScoreAssessmentRefer"},
    "vcse": {"person", "referral", "contact", "plan", "wellbeing_score"},
}
SPEC_COLUMNS = {
    ("gp", "patient"): ["patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex",
                        "ethnic_category", "postcode", "lsoa_code", "registration_start", "registration_end",
                        "type1_objection"],
    ("gp", "referral"): ["referral_id", "patient_id", "referral_date", "snomed_code", "target_ods",
                         "target_service", "priority", "ubrn"],
    ("mhsds", "MHS101Referral"): ["ServiceRequestId", "LocalPatientId", "OrgIDReferringOrg",
                                  "ReferringCareProfessionalType", "SourceOfReferralMH",
                                  "ReferralRequestReceivedDate", "ClinRespPriorityType", "PrimReasonReferralMH",
                                  "ServTeamTypeRefToMH", "ReferRejectionDate", "ReferRejectReason", "ServDischDate",
                                  "ReferClosReason"],
    ("mhsds", "MHS201CareContact"): ["CareContactId", "ServiceRequestId", "LocalPatientId", "CareProfTeamLocalId",
                                     "CareContDate", "CareContTime", "ClinContDurOfCareCont", "ConsMechanismMH",
                                     "AttendStatus", "ActLocTypeCode", "CareContCancelDate"],
    ("talking_therapies", "IDS201CareContact"): ["CareContactId", "ServiceRequestId", "LocalPatientId",
                                                 "CareContDate", "AppType", "ConsMechanism", "AttendStatus"],
    ("vcse", "referral"): ["referral_id", "person_id", "referral_date", "referrer_type", "referrer_ods",
                           "need_domains", "status", "closed_date"],
    ("vcse", "wellbeing_score"): ["score_id", "referral_id", "measure", "item", "value", "recorded_date"],
}
PROVIDER_KIND = {"gp": "gp_practice", "mhsds": "mh_trust", "talking_therapies": "talking_therapies", "vcse": "vcse"}


def test_contract_has_the_spec_tables():
    assert {source: set(tables) for source, tables in extract_columns().items()} == SPEC_TABLES


def test_contract_columns_match_the_spec():
    contract = extract_columns()
    for (source, table), columns in SPEC_COLUMNS.items():
        assert contract[source][table] == columns
    assert contract["talking_therapies"]["IDS001MPI"] == contract["mhsds"]["MHS001MPI"]  # "as MHS001MPI"


def test_paths_follow_the_landing_layout(clean, landed):
    kinds = load_reference().organisation_kinds()
    months = set(clean.summary.months)
    for f in landed(clean.landing):
        assert kinds[f.provider] == PROVIDER_KIND[f.source]
        assert f.month in months
        assert re.fullmatch(r"\d{8}T\d{4}", f.submission)
        month_end = date.fromisoformat(f"{f.month}-01").replace(day=28) + timedelta(days=4)
        month_end -= timedelta(days=month_end.day)
        sent = date.fromisoformat(f"{f.submission[:4]}-{f.submission[4:6]}-{f.submission[6:8]}")
        assert timedelta(days=1) <= sent - month_end <= timedelta(days=10)
        assert f.table in SPEC_TABLES[f.source]
        assert f.path.suffix == (".parquet" if f.provider == "8ZZ02" else ".csv")


def test_every_delivery_sends_every_table_once(clean, landed):
    deliveries: dict[tuple, set] = {}
    for f in landed(clean.landing):
        deliveries.setdefault((f.source, f.provider, f.month, f.submission), set()).add(f.table)
    assert len(deliveries) == clean.summary.deliveries == 10 * 12
    assert len({key[:3] for key in deliveries}) == len(deliveries)
    for (source, *_), tables in deliveries.items():
        assert tables == SPEC_TABLES[source]


def test_files_have_the_contract_columns_and_whole_rows(clean, landed):
    contract = extract_columns()
    for f in landed(clean.landing):
        assert f.columns == contract[f.source][f.table]
        assert f.complete_last_line
        assert all(len(row) == len(f.columns) for row in f.rows)


def test_talking_therapies_files_start_with_a_bom_others_do_not(clean):
    for path in clean.landing.rglob("*.csv"):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf") == (path.parts[-5] == "talking_therapies")


def test_rows_written_match_the_summary(clean, landed):
    rows: dict[str, int] = {}
    for f in landed(clean.landing):
        rows[f"{f.source}.{f.table}"] = rows.get(f"{f.source}.{f.table}", 0) + len(f.rows)
    assert rows == clean.summary.rows
