"""validate_table on small hand-made tables: what passes, what fails, and with which severity.

These run in an ephemeral GX context (nothing written); test_gx_data_docs.py covers file mode.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from carebridge.core.reference import codes
from expectations import config, runner
from expectations.runner import validate_table

D = date
PERSON_KEYS = [f"{i:064x}" for i in range(1, 4)]


def _person() -> pa.Table:
    return pa.table({
        "person_key": PERSON_KEYS,
        "birth_year": [1960, 1990, 2005],
        "age_band": ["56-65", "26-35", "18-25"],
        "sex": ["female", "male", "unknown"],
        "ethnic_category": ["A", "H", "99"],
        "ethnic_group": ["White", "Asian", "Not stated or not known"],
        "lsoa_code": ["E01900001", "E01900002", None],
        "imd_decile": pa.array([1, 10, None], pa.int64()),
        "gp_practice_ods": ["Z90001", "Z90002", "Z90003"],
        "pcn_code": ["U90001", "U90001", "U90001"],
        "smi_register": [False, True, False],
        "imd_quintile": pa.array([1, 5, None], pa.int64()),
        "age_reference_date": pa.array([date(2026, 3, 31)] * 3, pa.date32()),
        "place_code": ["QZZ01", "QZZ01", "QZZ01"],
    })


def _service() -> pa.Table:
    return pa.table({"service_key": ["s1", "s2"], "provider_ods": ["RZZ", "RZY"],
                     "provider_name": ["Trust", "TT"], "provider_kind": ["mh_trust", "talking_therapies"],
                     "setting": ["secondary", "talking_therapies"], "service_type_code": ["A06", "TT"],
                     "service_type_name": ["CMHT", "Talking Therapies"], "level": ["place", "place"]})


def _referral(**overrides) -> pa.Table:
    columns = {
        "referral_key": ["r1", "r2", "r3"],
        "person_key": PERSON_KEYS,
        "service_key": ["s1", "s2", None],
        "source_setting": ["primary", "self", "primary"],
        "source_code": ["A1", "B1", None],
        "referring_ods": ["Z90001", None, "Z90002"],
        "referred_date": pa.array([D(2025, 1, 1), None, D(2025, 2, 1)]),
        "received_date": pa.array([D(2025, 1, 5), D(2025, 1, 10), None]),
        "priority": ["routine", "urgent", "routine"],
        "reason_code": ["04", None, None],
        "status": ["closed", "open", "not_received"],
        "rejected_date": pa.array([None, None, None], pa.date32()),
        "discharge_date": pa.array([D(2025, 6, 1), None, None], pa.date32()),
        "first_contact_date": pa.array([D(2025, 1, 20), D(2025, 1, 12), None], pa.date32()),
        "second_contact_date": pa.array([D(2025, 2, 20), None, None], pa.date32()),
        "first_treatment_date": pa.array([D(2025, 2, 20), None, None], pa.date32()),
        "wait_first_contact_days": pa.array([15, 2, None], pa.int64()),
        "wait_second_contact_days": pa.array([46, None, None], pa.int64()),
        "attended_contacts": pa.array([6, 1, 0], pa.int64()),
        "dna_contacts": pa.array([1, 0, 0], pa.int64()),
    }
    columns.update(overrides)
    return pa.table(columns)


def _outcome(**overrides) -> pa.Table:
    columns = {
        "outcome_key": ["o1", "o2", "o3"], "referral_key": ["r1", "r1", "r2"],
        "person_key": [PERSON_KEYS[0], PERSON_KEYS[0], PERSON_KEYS[1]], "service_key": ["s2", "s2", "s2"],
        "measure": ["PHQ9", "GAD7", "SWEMWBS"],
        "first_score": [18.0, 15.0, 12.4], "first_date": pa.array([D(2025, 1, 20)] * 3),
        "last_score": [7.0, 6.0, 24.11], "last_date": pa.array([D(2025, 4, 1)] * 3),
        "change": [-11.0, -9.0, 11.7],
    }
    columns.update(overrides)
    return pa.table(columns)


RELATED = {"analytics.person": _person(), "analytics.service": _service(), "analytics.referral": _referral()}


def _failures(result) -> dict[tuple[str, str | None], runner.ExpectationOutcome]:
    return {(o.expectation, o.column): o for o in result.results if not o.success}


def test_a_clean_table_passes_every_expectation():
    result = validate_table("analytics", "referral", _referral(), related=RELATED)
    assert [o for o in result.results if not o.success] == []
    assert result.passed_errors and result.warnings == 0
    assert result.evaluated_rows == 3
    assert len(result.results) >= 20


def test_clean_person_and_outcome_tables_pass():
    assert validate_table("analytics", "person", _person()).passed_errors
    outcome = validate_table("analytics", "outcome", _outcome(), related=RELATED)
    assert [o for o in outcome.results if not o.success] == []


def test_null_key_is_an_error():
    result = validate_table("analytics", "referral", _referral(referral_key=["r1", None, "r3"]), related=RELATED)
    failed = _failures(result)[("expect_column_values_to_not_be_null", "referral_key")]
    assert failed.severity == "error" and failed.unexpected_count == 1
    assert not result.passed_errors


def test_duplicate_key_is_an_error_with_the_key_as_example():
    result = validate_table("analytics", "referral", _referral(referral_key=["r1", "r1", "r3"]), related=RELATED)
    failed = _failures(result)[("expect_column_values_to_be_unique", "referral_key")]
    assert failed.severity == "error"
    assert failed.unexpected_count == 2 and failed.unexpected_examples == ("r1",)
    assert not result.passed_errors


def test_value_outside_a_code_list_set_is_caught():
    result = validate_table("analytics", "referral", _referral(status=["closed", "lost", "not_received"]),
                            related=RELATED)
    failed = _failures(result)[("expect_column_values_to_be_in_set", "status")]
    assert failed.severity == "error" and failed.unexpected_examples == ("lost",)


def test_unknown_code_kept_in_staging_is_only_a_warning():
    person = _person().set_column(4, "ethnic_category", pa.array(["A", "Q", "99"]))
    result = validate_table("analytics", "person", person)
    failed = _failures(result)[("expect_column_values_to_be_in_set", "ethnic_category")]
    assert failed.severity == "warning" and failed.unexpected_examples == ("Q",)
    assert result.passed_errors, "warnings never fail passed_errors"
    assert result.warnings == 1


@pytest.mark.parametrize("fk_limit", [5000, 1], ids=["value_set", "membership_column"])
def test_foreign_key_that_does_not_resolve_is_an_error(monkeypatch, fk_limit):
    monkeypatch.setattr(runner, "settings",
                        lambda: dataclasses.replace(config.settings(), foreign_key_value_set_limit=fk_limit))
    person_keys = [PERSON_KEYS[0], "f" * 64, PERSON_KEYS[2]]
    result = validate_table("analytics", "referral", _referral(person_key=person_keys), related=RELATED)
    failed = _failures(result)[("carebridge_foreign_key", "person_key")]
    assert failed.severity == "error" and failed.unexpected_count == 1
    assert failed.unexpected_examples == ("f" * 64,)
    assert failed.check == "in analytics.person.person_key"
    assert not result.passed_errors
    # the service_key foreign key resolves (its null is ignored)
    assert ("carebridge_foreign_key", "service_key") not in _failures(result)


def test_foreign_key_accepts_related_tables_keyed_by_bare_name():
    related = {"person": _person(), "service": _service()}
    assert validate_table("analytics", "referral", _referral(), related=related).passed_errors


def test_missing_reference_table_fails_the_foreign_key_with_a_reason():
    result = validate_table("analytics", "referral", _referral(), related={"analytics.person": _person()})
    failed = _failures(result)[("carebridge_foreign_key", "service_key")]
    assert failed.error == "reference analytics.service.service_key was not supplied"
    assert not result.passed_errors


def test_dates_out_of_order_are_caught_and_nulls_ignored():
    discharge = pa.array([D(2024, 12, 1), None, None], pa.date32())  # before received 2025-01-05
    result = validate_table("analytics", "referral", _referral(discharge_date=discharge), related=RELATED)
    failed = _failures(result)[("expect_column_pair_values_a_to_be_greater_than_b", "discharge_date, received_date")]
    assert failed.unexpected_count == 1 and failed.severity == "error"
    assert failed.unexpected_examples == (["2024-12-01", "2025-01-05"],)


def test_negative_wait_is_an_error():
    waits = pa.array([15, -3, None], pa.int64())
    result = validate_table("analytics", "referral", _referral(wait_first_contact_days=waits), related=RELATED)
    failed = _failures(result)[("expect_column_values_to_be_between", "wait_first_contact_days")]
    assert failed.unexpected_examples == (-3,)


def test_score_out_of_its_measures_range_is_an_error():
    result = validate_table("analytics", "outcome", _outcome(first_score=[30.0, 15.0, 12.4]), related=RELATED)
    failures = [o for o in result.results if not o.success]
    assert len(failures) == 1
    (failed,) = failures
    assert failed.expectation == "carebridge_range_by" and failed.column == "first_score"
    assert failed.check == "measure is PHQ9" and failed.unexpected_examples == (30.0,)
    assert failed.severity == "error"


def test_same_score_is_valid_for_a_measure_with_a_wider_range():
    # 30 is out of range for PHQ-9 (0-27) but fine for CORE-10 (0-40)
    result = validate_table("analytics", "outcome", _outcome(measure=["CORE10", "GAD7", "SWEMWBS"],
                                                             first_score=[30.0, 15.0, 12.4]), related=RELATED)
    assert result.passed_errors


def _published(people: list[int | None]) -> pa.Table:
    n = len(people)
    return pa.table({"from_setting": ["primary", "secondary", "talking_therapies"][:n],
                     "to_setting": ["secondary"] * n, "transition": ["step_up"] * n,
                     "people": pa.array(people, pa.int64()), "median_days_between": [10.0] * n,
                     "pct_seen": [55.0] * n})


def test_published_counts_are_suppressed_or_rounded():
    assert validate_table("published", "pathways", _published([5, None, 120])).passed_errors


def test_published_count_below_the_threshold_is_an_error():
    threshold = codes()["disclosure"]["suppress_below"]
    assert threshold == 5
    result = validate_table("published", "pathways", _published([3, None, 120]))
    failed = [o for o in result.results if not o.success]
    assert [(o.column, o.check, o.unexpected_examples) for o in failed] == [
        ("people", ">= 5", (3,)), ("people", "multiple of 5", (3,))]
    assert {o.severity for o in failed} == {"error"} and not result.passed_errors


def test_published_count_not_rounded_is_an_error():
    result = validate_table("published", "pathways", _published([12, 10, 120]))
    failed = [o for o in result.results if not o.success]
    assert [(o.column, o.check, o.unexpected_count, o.unexpected_examples) for o in failed] == [
        ("people", "multiple of 5", 1, (12,))]


def test_staged_table_checks_nhs_numbers_without_showing_them():
    nhs = ["9434765919", "12345", None]
    table = pa.table({
        "provider_ods": ["Z90001"] * 3, "reporting_month": ["2025-01"] * 3, "submission_id": ["s1"] * 3,
        "source_file": ["gp/Z90001/2025-01/s1/patient.csv"] * 3, "source_line": pa.array([2, 3, 4], pa.int64()),
        "patient_id": ["p1", "p2", "p3"], "nhs_number": nhs, "nhs_number_check": ["valid", "valid", "missing"],
        "given_name": ["Ann", "Bob", "Cy"], "family_name": ["Smith", "Jones", "Khan"],
        "birth_date": pa.array([D(1970, 1, 1), D(1850, 3, 4), D(1990, 1, 1)]),
        "sex": ["F", "M", "U"], "ethnic_category": ["A", "B", "C"], "postcode": ["LS1 1AA", "LS2 2BB", None],
        "lsoa_code": [None] * 3, "registration_start": pa.array([D(2000, 1, 1), D(2001, 1, 1), D(2002, 1, 1)]),
        "registration_end": pa.array([None] * 3, pa.date32()), "type1_objection": [False, False, True],
    })
    result = validate_table("staged", "gp.patient", table)
    failures = _failures(result)
    regex = failures[("expect_column_values_to_match_regex", "nhs_number")]
    assert regex.unexpected_count == 1 and regex.unexpected_examples == ()
    old = failures[("expect_column_values_to_be_between", "birth_date")]
    assert old.severity == "warning" and old.unexpected_count == 1 and old.unexpected_examples == ()
    metadata = json.dumps(result.to_metadata())
    for value in ("12345", "9434765919", "1850-03-04", "Smith", "LS2 2BB"):
        assert value not in metadata
    assert not result.passed_errors


def test_nhs_number_check_must_agree_with_the_number():
    table = pa.table({"nhs_number": ["9434765919", None, "9434765919"],
                      "nhs_number_check": ["valid", "valid", "invalid"]})
    result = validate_table("staged", "vcse.person", table)
    failures = _failures(result)
    assert failures[("expect_column_values_to_not_be_null", "nhs_number")].unexpected_count == 1
    assert failures[("expect_column_values_to_be_null", "nhs_number")].unexpected_count == 1


def test_missing_column_fails_its_expectations_with_a_reason():
    result = validate_table("analytics", "referral", _referral().drop_columns(["dna_contacts"]), related=RELATED)
    failed = _failures(result)[("expect_column_values_to_be_between", "dna_contacts")]
    assert "dna_contacts" in failed.error
    assert not result.passed_errors


def test_pandas_input_gives_the_same_result():
    frame = _referral(referral_key=["r1", "r1", "r3"]).to_pandas()
    assert isinstance(frame, pd.DataFrame)
    result = validate_table("analytics", "referral", frame, related=RELATED)
    assert _failures(result)[("expect_column_values_to_be_unique", "referral_key")].unexpected_count == 2


def test_metadata_is_plain_json_with_counts_and_failures():
    result = validate_table("analytics", "referral", _referral(status=["closed", "lost", "not_received"]),
                            related=RELATED)
    metadata = json.loads(json.dumps(result.to_metadata()))
    assert metadata["suite"] == "analytics.referral" and metadata["evaluated_rows"] == 3
    assert metadata["passed_errors"] is False and metadata["failed_errors"] == 1 and metadata["warnings"] == 0
    (failure,) = metadata["failures"]
    assert failure["column"] == "status" and failure["unexpected_examples"] == ["lost"]
    assert failure["why"]


def test_examples_are_at_most_five_distinct_values():
    keys = [f"r{i % 7}" for i in range(40)]
    n = len(keys)
    table = pa.table({"referral_key": keys, "status": ["lost"] * n})
    result = validate_table("analytics", "referral", table, related=RELATED)
    unique = _failures(result)[("expect_column_values_to_be_unique", "referral_key")]
    assert unique.unexpected_count == n
    assert 1 <= len(unique.unexpected_examples) <= 5
    assert len(set(unique.unexpected_examples)) == len(unique.unexpected_examples)
