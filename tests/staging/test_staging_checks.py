"""Row checks, one file at a time: each reason code, parsing, NHS numbers, kept-and-flagged codes."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from carebridge.staging.checks import normalise_nhs_numbers, parse_column, validate
from carebridge.staging.tables import table_specs

VALID = {
    "gp.patient": dict(patient_id="P1", nhs_number="9434765919", birth_date="1980-05-01", sex="F",
                       ethnic_category="A", registration_start="2010-01-01", type1_objection="false"),
    "gp.appointment": dict(appointment_id="A1", patient_id="P1", start="2024-01-05T10:00:00", duration_minutes="15",
                           staff_role="GP", mode="telephone", status="attended"),
    "mhsds.MHS101Referral": dict(ServiceRequestId="R1", LocalPatientId="P1", SourceOfReferralMH="A1",
                                 ReferralRequestReceivedDate="2024-01-03", ServTeamTypeRefToMH="A06"),
    "mhsds.MHS606CodedScoreAssessmentRefer": dict(AssessmentId="S1", ServiceRequestId="R1",
                                                  CodedAssToolType="720433000", PersScore="12",
                                                  AssToolCompTimestamp="2024-01-05T10:00:00"),
    "vcse.referral": dict(referral_id="V1", person_id="P1", referral_date="2024-01-03",
                          need_domains="isolation;housing", status="closed", closed_date="2024-02-01"),
    "vcse.contact": dict(contact_id="C1", referral_id="V1", contact_date="2024-01-10", attended="yes"),
    "vcse.wellbeing_score": dict(score_id="W1", referral_id="V1", measure="ONS4", item="happy", value="7",
                                 recorded_date="2024-01-10"),
}


def run(name: str, rows: list[dict[str, str | None]]):
    spec = table_specs()[name]
    text = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in spec.column_names})
    return validate(spec, text, text)


def reason_for(name: str, **changes: str | None) -> str | None:
    return run(name, [VALID[name] | changes]).reason[0].as_py()


@pytest.mark.parametrize("name", VALID)
def test_valid_rows_pass(name):
    assert reason_for(name) is None


@pytest.mark.parametrize(
    "name, changes, reason",
    [
        ("gp.patient", dict(birth_date=None), "missing_required"),
        ("gp.patient", dict(birth_date="1980-02-30"), "invalid_date"),
        ("gp.patient", dict(birth_date="01/05/1980"), "invalid_date"),
        ("gp.appointment", dict(start="2024-01-05T25:00"), "invalid_date"),
        ("gp.appointment", dict(duration_minutes="ten"), "invalid_number"),
        ("vcse.contact", dict(attended="maybe"), "invalid_bool"),
        ("gp.patient", dict(birth_date="1850-01-01"), "date_out_of_range"),
        ("vcse.referral", dict(referral_date="1999-12-31", closed_date=None), "date_out_of_range"),
        ("gp.appointment", dict(start="2031-01-01T09:00:00"), "date_out_of_range"),
        ("gp.patient", dict(sex="Q"), "unknown_code"),
        ("vcse.referral", dict(need_domains="isolation;sailing"), "unknown_code"),
        ("mhsds.MHS606CodedScoreAssessmentRefer", dict(CodedAssToolType="123"), "unknown_code"),
        ("vcse.wellbeing_score", dict(item="total"), "unknown_code"),  # ONS4 has no total
        ("mhsds.MHS606CodedScoreAssessmentRefer", dict(PersScore="28"), "score_out_of_range"),  # PHQ-9 0-27
        ("vcse.wellbeing_score", dict(value="11"), "score_out_of_range"),  # ONS4 0-10
        ("vcse.wellbeing_score", dict(measure="SWEMWBS", item="total", value="6"), "score_out_of_range"),
        ("mhsds.MHS101Referral", dict(ServDischDate="2024-01-02"), "discharge_before_received"),
        ("vcse.referral", dict(closed_date="2024-01-02"), "closed_before_referral"),
    ],
)
def test_reason_codes(name, changes, reason):
    assert reason_for(name, **changes) == reason


@pytest.mark.parametrize(
    "name, changes",
    [
        ("mhsds.MHS606CodedScoreAssessmentRefer", dict(PersScore="27")),
        ("vcse.wellbeing_score", dict(measure="SWEMWBS", item="total", value="35")),
        ("vcse.referral", dict(need_domains=" isolation ; carer;")),
        ("mhsds.MHS101Referral", dict(ServDischDate="2024-01-03")),  # same day is fine
        ("gp.appointment", dict(start="2024-01-05T10:00:00.5Z", duration_minutes="15.0")),
        ("gp.patient", dict(nhs_number="123", ethnic_category=None)),  # bad NHS number: kept, nulled
    ],
)
def test_edge_values_pass(name, changes):
    assert reason_for(name, **changes) is None


def test_first_reason_in_order_wins_and_detail_names_the_column():
    result = run("gp.patient", [VALID["gp.patient"] | dict(sex="Q", birth_date="1980-13-01")])
    assert result.reason.to_pylist() == ["invalid_date"]
    assert "birth_date='1980-13-01'" in result.detail[0].as_py()


def test_exact_duplicates_then_duplicate_keys_keep_the_first():
    first = VALID["mhsds.MHS101Referral"]
    other = first | dict(LocalPatientId="P2")
    broken = first | dict(ReferralRequestReceivedDate="nope", LocalPatientId="P3")
    result = run("mhsds.MHS101Referral", [broken, first, first, other, first | dict(ServiceRequestId="R2")])
    # the broken row does not claim the key: the first good R1 is kept
    assert result.reason.to_pylist() == ["invalid_date", None, "duplicate_row", "duplicate_key", None]


def test_unknown_team_type_is_kept_and_flagged():
    rows = [VALID["mhsds.MHS101Referral"] | dict(ServiceRequestId=str(i), ServTeamTypeRefToMH=code)
            for i, code in enumerate(["A06", "A25", "X99"])]
    result = run("mhsds.MHS101Referral", rows)
    assert result.reason.to_pylist() == [None, None, None]
    assert result.typed["team_type_check"].to_pylist() == ["recognised", "unrecognised", "unrecognised"]


def test_nhs_numbers_are_normalised_and_checked():
    values, check = normalise_nhs_numbers(pa.array(["943 476 5919", "9434765918", None, "  ", "943-476-5919", "12"]))
    assert values.to_pylist() == ["9434765919", None, None, None, "9434765919", None]
    assert check.to_pylist() == ["valid", "invalid", "missing", "missing", "valid", "invalid"]


def test_typed_values():
    result = run("gp.appointment", [VALID["gp.appointment"] | dict(start="2024-05-03T10:15:00+01:00")])
    assert result.typed["start"].to_pylist() == [dt.datetime(2024, 5, 3, 9, 15)]
    assert result.typed["duration_minutes"].to_pylist() == [15]
    assert parse_column(pa.array(["Yes", "n", "x", None]), "bool").to_pylist() == [True, False, None, None]
    assert parse_column(pa.array(["1.5", "-2", "1e3", "1,5"]), "decimal").to_pylist() == [1.5, -2.0, 1000.0, None]
    assert parse_column(pa.array(["007"]), "text").to_pylist() == ["007"]  # codes keep leading zeros
