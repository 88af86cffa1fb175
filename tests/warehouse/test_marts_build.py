"""warehouse.build: keys, reference tables, the build itself, persons, exclusions, and the column contract."""

from __future__ import annotations

import hashlib
import hmac
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (
    TEST_KEY, build, contact, episode, gp_referral, key_of, patient, received, rows, score,
    table,
)
import pytest
import yaml

import expectations
from carebridge.core.reference import load_reference
from warehouse.build import ANALYTICS_TABLES, MART_ORDER, build_marts, person_keys, reference_tables
from warehouse.marts import MARTS_DIR
from warehouse.db import query, table_names
from warehouse.questions import QUESTIONS_DIR

# outputs.md part B: the analytics contract, exact names and order.
ANALYTICS_COLUMNS = {
    "person": ["person_key", "birth_year", "age_band", "sex", "ethnic_category", "ethnic_group", "lsoa_code",
               "imd_decile", "gp_practice_ods", "pcn_code", "smi_register", "imd_quintile", "age_reference_date",
               "place_code"],
    "person_group": ["person_key", "group_dimension", "group_value"],
    "service": ["service_key", "provider_ods", "provider_name", "provider_kind", "setting", "service_type_code",
                "service_type_name", "level"],
    "referral": ["referral_key", "person_key", "service_key", "source_setting", "source_code", "referring_ods",
                 "referred_date", "received_date", "priority", "reason_code", "status", "rejected_date",
                 "discharge_date", "first_contact_date", "second_contact_date", "first_treatment_date",
                 "wait_first_contact_days", "wait_second_contact_days", "attended_contacts", "dna_contacts",
                 "age_at_referral", "age_band_at_referral"],
    "contact": ["contact_key", "referral_key", "person_key", "service_key", "contact_date", "mechanism", "attended",
                "did_not_attend", "duration_minutes", "staff_role"],
    "care_plan": ["care_plan_key", "person_key", "service_key", "plan_type", "is_crisis_plan", "created_date",
                  "last_updated_date", "goal_count"],
    "outcome": ["outcome_key", "referral_key", "person_key", "service_key", "measure", "first_score", "first_date",
                "last_score", "last_date", "change", "caseness_first", "caseness_last", "reliable_improvement",
                "reliable_deterioration", "recovery", "reliable_recovery"],
    "referral_need": ["referral_key", "person_key", "need_domain"],
    "journey_step": ["person_key", "step_no", "referral_key", "from_setting", "to_setting", "transition",
                     "days_since_previous", "seen"],
    "who_gets_what": ["person_key", "age_band", "sex", "ethnic_group", "imd_quintile", "service_key", "setting",
                      "service_type_code", "referrals", "attended_contacts", "first_date", "last_date",
                      "waited_days", "any_measure_paired", "improved", "recovered"],
    "access_event": ["measure", "person_key", "period_start", "period_end"],
}
IDENTIFIER_COLUMNS = {"nhs_number", "given_name", "family_name", "name", "postcode", "birth_date", "person_id",
                      "patient_id"}


def _small_world() -> dict:
    return {
        "v_patient": [patient("p1", birth="1990-06-15", gender="female", eth="H", lsoa="E01900007"),
                      patient("p2", birth="2007-03-01", gender="male", eth="X9", lsoa=None),
                      patient("p3", birth="1950-01-01", gender="male", eth=None),
                      patient("p4", birth="1980-01-01")],
        "v_service_request": [
            gp_referral("g1", "p1", "2025-03-01", "CMHT"),
            received("m1", "p1", "2025-03-04", "CMHT", based_on="g1", source="A1"),
            received("v2", "p2", "2025-02-28", "SP", source="self"),
            received("m4", "p4", "2025-01-07", "CMHT", source="A1"),
        ],
        "v_episode_of_care": [episode("ep1", "p1", "m1", "2025-03-04")],
        "v_encounter": [contact("c1", "p1", "m1", "2025-03-10", "CMHT"),
                        contact("c2", "p3", None, "2024-12-31", "MHP"),
                        contact("c4", "p4", "m4", "2025-01-08", "CMHT")],
        "v_care_plan": [{"care_plan_id": "cp1", "patient_id": "p1", "record_source": "mhsds", "provider_ods": "RZZ",
                         "plan_type": "12", "is_crisis_plan": True, "created_date": "2025-03-20",
                         "last_updated_date": "2025-04-01", "goal_count": 0},
                        {"care_plan_id": "cp4", "patient_id": "p4", "record_source": "mhsds", "provider_ods": "RZZ",
                         "plan_type": "01", "is_crisis_plan": False, "created_date": "2025-01-05"}],
        "v_observation": [score("o1", "p1", "m1", "2025-03-10", "720433000", 14),
                          score("o2", "p1", "m1", "2025-04-10", "720433000", 7)],
        "v_condition": [{"condition_id": "d1", "patient_id": "p1", "provider_ods": "Z90001", "code": "391193001",
                         "recorded_date": "2020-01-01"},
                        {"condition_id": "d2", "patient_id": "p2", "provider_ods": "Z90001", "code": "35489007"}],
    }


def test_person_keys_are_hmac_sha256_of_the_person_id():
    keys = person_keys(["b", "a", "a", None], b"secret")
    assert keys.column_names == ["person_id", "person_key"]
    assert keys.column("person_id").to_pylist() == ["a", "b"]
    assert keys.column("person_key")[0].as_py() == hmac.new(b"secret", b"a", hashlib.sha256).hexdigest()
    assert person_keys(["a"], b"other").column("person_key")[0].as_py() != keys.column("person_key")[0].as_py()


def test_reference_tables_come_from_the_code_lists():
    tables = reference_tables(load_reference())
    conversion = tables["score_conversion"].to_pylist()
    assert conversion[0] == {"measure": "SWEMWBS", "raw_score": 7.0, "score": 7.0}
    assert conversion[-1] == {"measure": "SWEMWBS", "raw_score": 35.0, "score": 35.0}
    dialog = [r for r in tables["measure_code"].to_pylist() if r["measure"] == "DIALOG" and r["item"]]
    assert [r["item"] for r in dialog if r["in_score"]] == list(range(1, 9))
    assert [r["item"] for r in dialog if not r["in_score"]] == [9, 10, 11]
    phq = {(r["code_system"], r["code"]) for r in tables["measure_code"].to_pylist() if r["measure"] == "PHQ9"}
    assert {("http://snomed.info/sct", "720433000"), ("http://loinc.org", "44261-6"), (None, "PHQ9")} <= phq
    waits = {(r["setting"], r["service_type_code"], r["wait_measure"], r["standard_days"])
             for r in tables["wait_standard"].to_pylist()}
    assert {("talking_therapies", None, "first_treatment", 42), ("talking_therapies", None, "first_treatment", 126),
            (None, "A14", "first_contact", 14), (None, "A06", "second_contact", 28)} <= waits
    assert (None, "A02", "second_contact", 28) not in waits            # crisis teams are not core community
    sources = {(r["record_source"], r["code"]): r["setting"] for r in tables["source_of_referral"].to_pylist()}
    assert sources[("mhsds", "N1")] == "talking_therapies" and sources[("vcse", "cmht")] == "secondary"


def test_sql_files_have_no_percent_sign_and_every_mart_has_its_file():
    """psycopg reads any % in a statement (comments too) as a placeholder."""
    for path in [*MARTS_DIR.glob("*.sql"), *QUESTIONS_DIR.glob("*.sql")]:
        assert "%" not in path.read_text(), path.name
    assert all((MARTS_DIR / f"{name}.sql").exists() for name in MART_ORDER)


def test_the_expectations_contract_declares_the_same_analytics_columns():
    contracts = yaml.safe_load((Path(expectations.__file__).parent / "contracts.yaml").read_text(encoding="utf-8"))
    assert contracts["analytics"] == ANALYTICS_COLUMNS


def test_build_is_idempotent_and_columns_match_the_contract(engine):
    counts = build(engine, **_small_world())
    assert counts == build_marts(engine)                                 # re-running replaces, never appends
    assert set(counts) == set(ANALYTICS_TABLES) == set(ANALYTICS_COLUMNS)
    assert counts["person"] == 4 and counts["referral"] == 3 and counts["contact"] == 3
    for name, columns in ANALYTICS_COLUMNS.items():
        assert query(engine, f"SELECT * FROM analytics.{name} WHERE 1 = 0").column_names == columns, name


def test_person_mart_derives_slicing_columns_without_identifiers(engine):
    build(engine, **_small_world())
    people = {r["person_key"]: r for r in table(engine, "analytics", "person")}
    p1, p2, p3 = people[key_of("p1")], people[key_of("p2")], people[key_of("p3")]
    # Ages on the age reference date, 31 March 2025 (the latest month with a contact or referral).
    assert {p["age_reference_date"] for p in people.values()} == {date(2025, 3, 31)}
    assert (p1["birth_year"], p1["age_band"], p1["sex"]) == (1990, "26-35", "female")   # 34
    assert (p1["ethnic_category"], p1["ethnic_group"], p1["imd_decile"]) == ("H", "Asian", 7)
    assert p1["imd_quintile"] == 4                                     # deciles 7 and 8 are quintile 4
    assert (p1["gp_practice_ods"], p1["pcn_code"], p1["place_code"], p1["smi_register"]) == (
        "Z90001", "U90001", "QZZ01", True)
    assert (p2["age_band"], p2["ethnic_group"], p2["imd_decile"], p2["smi_register"]) == (
        "18-25", "Not stated or not known", None, False)                  # 18 on 31 March 2025
    assert p3["age_band"] == "66-75"                    # no referral, a band all the same (75)
    # Age at referral is kept on the referral: p2 was 17 when the VCSE service received them.
    ages = {r["person_key"]: (r["age_at_referral"], r["age_band_at_referral"]) for r in table(engine, "analytics", "referral")}
    assert ages[key_of("p2")] == (17, "0-17") and ages[key_of("p1")] == (34, "26-35")
    assert p3["ethnic_group"] == "Not stated or not known"


def test_care_plan_takes_the_service_of_the_persons_referral_at_that_provider(engine):
    build(engine, **_small_world())
    plans = {r["person_key"]: r for r in table(engine, "analytics", "care_plan")}
    crisis = plans[key_of("p1")]
    assert (crisis["service_key"], crisis["is_crisis_plan"]) == ("CMHT", True)
    assert crisis["created_date"] == date(2025, 3, 20)
    # created before the referral was received: the earliest later referral there
    assert plans[key_of("p4")]["service_key"] == "CMHT"


def test_who_gets_what_summarises_each_person_and_service(engine):
    build(engine, **_small_world())
    (row,) = [r for r in table(engine, "analytics", "who_gets_what") if r["person_key"] == key_of("p1")]
    assert (row["service_key"], row["setting"], row["service_type_code"]) == ("CMHT", "secondary", "A06")
    assert (row["referrals"], row["attended_contacts"], row["waited_days"]) == (1, 1, 6)
    assert (row["first_date"], row["last_date"]) == (date(2025, 3, 4), date(2025, 3, 10))
    assert (row["any_measure_paired"], row["improved"], row["recovered"]) == (True, True, True)
    assert (row["age_band"], row["ethnic_group"], row["imd_quintile"]) == ("26-35", "Asian", 4)


def test_excluded_people_are_absent_and_no_identifier_reaches_analytics_or_published(engine):
    world = _small_world()
    build(engine, excluded=("p4",), publish=True, **world)
    keys = {r["person_key"] for r in table(engine, "analytics", "person")}
    assert keys == {key_of("p1"), key_of("p2"), key_of("p3")}
    forbidden = {"9434765919", "1990-06-15", "2007-03-01", "p1", "p2", "p3", "p4", "m1", "g1", "c1", "cp1",
                 key_of("p4"), TEST_KEY.decode()}
    for schema, names in (("analytics", ANALYTICS_TABLES),
                          ("published", table_names(engine, "published"))):
        for name in names:
            result = query(engine, f"SELECT * FROM {schema}.{name}")
            assert not IDENTIFIER_COLUMNS & set(result.column_names), name
            values = {str(v) for column in result.columns for v in column.to_pylist()}
            assert not forbidden & values, (schema, name, forbidden & values)
    referral_people = {r["person_key"] for r in table(engine, "analytics", "referral")}
    assert key_of("p4") not in referral_people and len(referral_people) == 2


def test_an_empty_warehouse_builds_empty_tables(engine):
    counts = build(engine, publish=True, v_organization=[], v_healthcare_service=[])
    assert set(counts.values()) == {0}
    assert query(engine, "SELECT * FROM published.pathways").column_names == [
        "from_setting", "to_setting", "transition", "people", "median_days_between", "pct_seen"]
