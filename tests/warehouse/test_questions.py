"""The ten questions: each runs as one query and gives the hand-computed answer on a small world.

The world (G is opted out and must never count):
  A  White female 34, IMD q1: GP -> CMHT, seen 4 times (one DNA by phone, one cancellation), crisis plan.
  B  Asian male: GP -> CMHT rejected, then the practice mental health practitioner, who saw him.
  C  Black female 23, IMD q3: GP -> CMHT rejected, then GP -> social prescribing: seen, SWEMWBS 14 -> 21.
  D  White male 55, IMD q1: self -> Talking Therapies, recovered; stepped up (N1) to the CMHT, seen.
  E  Other female 29, no LSOA: GP -> Talking Therapies (not recovered) and, at the same time, VCSE.
  F  White female 44, IMD q1: CMHT (A1) seen, care plan; stepped down to VCSE, never seen.
  H  White male: GP -> EIP, never received.
The last attended contact is D's on 2025-03-20, so "this month" is 2025-03.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (
    BACKENDS, build, contact, episode, gp_referral, patient, received, score,
)
from warehouse.db import ensure_schemas, make_engine
from warehouse.questions import ask, get_question, list_questions

PHQ9, GAD7 = "720433000", "445455005"
MEASURE = "https://fhir.carebridge.org.uk/CodeSystem/measure"


def _care_plan(cid: str, pid: str, created: str, crisis: bool) -> dict:
    return {"care_plan_id": cid, "patient_id": pid, "record_source": "mhsds", "provider_ods": "RZZ",
            "plan_type": "12" if crisis else "01", "is_crisis_plan": crisis, "created_date": created}


def _tt_scores(pid: str, sid: str, phq: tuple[int, int], gad: tuple[int, int]) -> list[dict]:
    return [score(f"{sid}-phq1", pid, sid, "2025-01-14", PHQ9, phq[0]),
            score(f"{sid}-phq2", pid, sid, "2025-01-31", PHQ9, phq[1]),
            score(f"{sid}-gad1", pid, sid, "2025-01-14", GAD7, gad[0]),
            score(f"{sid}-gad2", pid, sid, "2025-01-31", GAD7, gad[1])]


def world() -> dict:
    return {
        "v_patient": [
            patient("pa", birth="1990-06-15", gender="female", eth="A", lsoa="E01900001"),
            patient("pb", birth="1985-03-01", gender="male", eth="H", lsoa="E01900004"),
            patient("pc", birth="2001-09-10", gender="female", eth="N", lsoa="E01900006"),
            patient("pd", birth="1970-01-01", gender="male", eth="B", lsoa="E01900001"),
            patient("pe", birth="1995-12-31", gender="female", eth="S", lsoa=None),
            patient("pf", birth="1980-05-05", gender="female", eth="A", lsoa="E01900002"),
            patient("pg", birth="1990-01-01", gender="female", eth="A", lsoa="E01900001"),
            patient("ph", birth="2000-01-01", gender="male", eth="A", lsoa="E01900001"),
        ],
        "v_service_request": [
            gp_referral("g-a1", "pa", "2025-01-02", "CMHT"),
            received("m-a1", "pa", "2025-01-06", "CMHT", based_on="g-a1", source="A1"),
            gp_referral("g-b1", "pb", "2025-01-05", "CMHT"),
            received("m-b1", "pb", "2025-01-08", "CMHT", based_on="g-b1", source="A1", rejected_date="2025-01-15"),
            gp_referral("g-b2", "pb", "2025-01-20", "MHP"),
            gp_referral("g-c1", "pc", "2025-01-10", "CMHT"),
            received("m-c1", "pc", "2025-01-14", "CMHT", based_on="g-c1", source="A1", rejected_date="2025-01-20"),
            gp_referral("g-c2", "pc", "2025-01-28", "SP"),
            received("v-c2", "pc", "2025-02-01", "SP", based_on="g-c2", source="gp", reason_code="isolation;housing"),
            received("t-d1", "pd", "2025-01-03", "TT", source="B1"),
            received("m-d2", "pd", "2025-03-01", "CMHT", source="N1"),
            gp_referral("g-e1", "pe", "2025-01-04", "TT"),
            received("t-e1", "pe", "2025-01-07", "TT", based_on="g-e1", source="A1"),
            received("v-e2", "pe", "2025-01-15", "SP", source="self", reason_code="mental_wellbeing"),
            received("m-f1", "pf", "2025-01-02", "CMHT", source="A1"),
            received("v-f2", "pf", "2025-02-10", "SP", source="cmht", reason_code="isolation"),
            received("m-g1", "pg", "2025-01-05", "CMHT", source="A1"),
            gp_referral("g-h1", "ph", "2025-02-15", "EIP"),
        ],
        "v_episode_of_care": [
            episode("ep-d1", "pd", "t-d1", "2025-01-03", "2025-02-05"),
            episode("ep-e1", "pe", "t-e1", "2025-01-07", "2025-02-28"),
            episode("ep-e2", "pe", "v-e2", "2025-01-15", "2025-02-20"),
        ],
        "v_encounter": [
            contact("a1", "pa", "m-a1", "2025-01-13", "CMHT"),
            contact("a2", "pa", "m-a1", "2025-01-20", "CMHT", "did_not_attend", mechanism="telephone"),
            contact("a3", "pa", "m-a1", "2025-01-25", "CMHT", "cancelled_by_patient"),
            contact("a4", "pa", "m-a1", "2025-01-27", "CMHT", mechanism="telephone"),
            contact("a5", "pa", "m-a1", "2025-02-03", "CMHT", mechanism="video"),
            contact("a6", "pa", "m-a1", "2025-03-03", "CMHT"),
            contact("b1", "pb", None, "2025-01-28", "MHP"),
            contact("c1", "pc", "v-c2", "2025-02-05", "SP"),
            contact("c2", "pc", "v-c2", "2025-02-12", "SP"),
            contact("d1", "pd", "t-d1", "2025-01-10", "TT", app_type="01"),
            contact("d2", "pd", "t-d1", "2025-01-17", "TT", mechanism="video", app_type="02"),
            contact("d3", "pd", "t-d1", "2025-01-24", "TT", app_type="02"),
            contact("d4", "pd", "t-d1", "2025-01-31", "TT", "did_not_attend", mechanism="telephone", app_type="02"),
            contact("d5", "pd", "m-d2", "2025-03-08", "CMHT"),
            contact("d6", "pd", "m-d2", "2025-03-20", "CMHT"),
            contact("e1", "pe", "t-e1", "2025-01-14", "TT", app_type="02"),
            contact("e2", "pe", "t-e1", "2025-01-21", "TT", app_type="02"),
            contact("e3", "pe", "v-e2", "2025-01-22", "SP", mechanism="telephone"),
            contact("f1", "pf", "m-f1", "2025-01-09", "CMHT"),
            contact("f2", "pf", "m-f1", "2025-01-16", "CMHT"),
            contact("g1", "pg", "m-g1", "2025-01-12", "CMHT"),
            contact("g2", "pg", "m-g1", "2025-03-10", "CMHT", "did_not_attend", mechanism="telephone"),
            contact("g3", "pg", "m-g1", "2025-03-25", "CMHT"),
        ],
        "v_care_plan": [_care_plan("cp-a", "pa", "2025-01-20", True), _care_plan("cp-f", "pf", "2025-01-16", False),
                        _care_plan("cp-g", "pg", "2025-01-20", True)],
        "v_observation": [
            *_tt_scores("pd", "t-d1", (15, 8), (12, 6)),
            *_tt_scores("pe", "t-e1", (14, 12), (9, 9)),
            score("c-sw1", "pc", "v-c2", "2025-02-05", "SWEMWBS", 14, system=MEASURE, item="total"),
            score("c-sw2", "pc", "v-c2", "2025-02-12", "SWEMWBS", 21, system=MEASURE, item="total"),
            score("c-ls1", "pc", "v-c2", "2025-02-05", "ONS4", 4, system=MEASURE, item="life_satisfaction"),
            score("c-ls2", "pc", "v-c2", "2025-02-12", "ONS4", 6, system=MEASURE, item="life_satisfaction"),
        ],
    }


@pytest.fixture(scope="module", params=BACKENDS)
def warehouse(request, warehouse_for):
    """Built once per backend: the questions only read it."""
    engine = make_engine(warehouse_for(request.param))
    ensure_schemas(engine)
    build(engine, excluded=("pg",), **world())
    yield engine
    engine.dispose()


def _answer(engine, name: str) -> list[dict]:
    return ask(engine, name).to_pylist()


def test_every_question_is_listed_with_its_header():
    questions = list_questions()
    assert [q.name.split("_")[0] for q in questions] == [f"q{i:02d}" for i in range(1, 11)]
    for q in questions:
        assert q.title and q.question and q.reading, q.name
        assert q.sql.lstrip().startswith("-- title:")
    assert get_question("q03").name == "q03_wait_to_second_contact"
    with pytest.raises(KeyError):
        get_question("q11")


def test_q01_people_seen_this_month(warehouse):
    answer = {(r["group_dimension"], r["group_value"]): r["people"] for r in _answer(warehouse, "q01")
              if r["service_type_code"] == "A06"}
    assert {r["month"] for r in _answer(warehouse, "q01")} == {"2025-03"}
    assert answer == {("all", "all"): 2, ("age_band", "26-35"): 1, ("age_band", "46-55"): 1,
                      ("sex", "female"): 1, ("sex", "male"): 1, ("ethnic_group", "White"): 2,
                      ("imd_quintile", "1"): 2}


def test_q02_gp_referrals_to_cmht(warehouse):
    assert _answer(warehouse, "q02") == [
        {"pathway": "1 accepted and seen", "referrals": 2, "people": 2, "attended_contacts": 6,
         "with_care_plan": 2, "next_seen": 0},
        {"pathway": "3b rejected, then primary care mental health", "referrals": 1, "people": 1,
         "attended_contacts": 0, "with_care_plan": 0, "next_seen": 1},
        {"pathway": "3c rejected, then VCSE", "referrals": 1, "people": 1, "attended_contacts": 0,
         "with_care_plan": 0, "next_seen": 1},
    ]


def test_q03_wait_to_second_contact(warehouse):
    answer = {r["service_type_code"]: r for r in _answer(warehouse, "q03")}
    assert set(answer) == {"A06", "MHP", "SP", "TT"}            # the EIP referral was never received
    cmht = answer["A06"]                                         # waits 21 (A), 19 (D), 14 (F)
    assert (cmht["reached_second_contact"], cmht["still_waiting"], cmht["median_days"]) == (3, 0, 19)
    assert cmht["p90_days"] == pytest.approx(20.6)
    assert (answer["MHP"]["reached_second_contact"], answer["MHP"]["still_waiting"]) == (0, 1)
    assert answer["MHP"]["median_days"] is None
    assert (answer["SP"]["reached_second_contact"], answer["SP"]["still_waiting"], answer["SP"]["median_days"]) == (
        1, 1, 11)
    assert (answer["TT"]["median_days"], answer["TT"]["p90_days"]) == (14, 14)


def test_q04_talking_therapies_rates(warehouse):
    answer = {(r["group_dimension"], r["group_value"]): r for r in _answer(warehouse, "q04")}
    overall = answer[("all", "all")]
    assert (overall["finished"], overall["at_caseness"], overall["recovered"]) == (2, 2, 1)
    assert (overall["recovery_rate"], overall["reliable_improvement_rate"], overall["reliable_recovery_rate"]) == (
        50.0, 50.0, 50.0)
    assert answer[("ethnic_group", "White")]["recovery_rate"] == 100.0
    assert answer[("ethnic_group", "Other")]["recovery_rate"] == 0.0
    assert answer[("imd_quintile", "1")]["reliable_recovery_rate"] == 100.0
    assert answer[("imd_quintile", "unknown")]["reliable_improvement_rate"] == 0.0
    assert len(answer) == 5


def test_q05_step_up_and_step_down(warehouse):
    answer = _answer(warehouse, "q05")
    assert answer == [
        {"transition": "step_down", "from_setting": "secondary", "to_setting": "vcse", "to_service_type": "SP",
         "people": 1, "moves": 1, "median_days_since_previous": 39.0, "moves_seen": 0, "pct_seen": 0.0,
         "moves_open": 1},
        {"transition": "step_up", "from_setting": "talking_therapies", "to_setting": "secondary",
         "to_service_type": "A06", "people": 1, "moves": 1, "median_days_since_previous": 57.0, "moves_seen": 1,
         "pct_seen": 100.0, "moves_open": 1},
    ]
    assert not any("person_key" in row for row in answer)  # aggregates only


def test_q06_shared_care(warehouse):
    assert _answer(warehouse, "q06") == [{"setting_a": "any", "setting_b": "any", "people": 1},
                                         {"setting_a": "talking_therapies", "setting_b": "vcse", "people": 1}]


def test_q07_social_prescribing(warehouse):
    answer = {(r["dimension"], r["value"]): r for r in _answer(warehouse, "q07")}
    overall = answer[("all", "all")]
    assert (overall["referrals"], overall["people"], overall["seen"], overall["swemwbs_paired"],
            overall["swemwbs_improved"]) == (3, 3, 2, 1, 1)
    assert overall["swemwbs_mean_change"] == pytest.approx(3.93)
    assert overall["life_satisfaction_mean_change"] == pytest.approx(2.0)
    assert {k[1]: v["referrals"] for k, v in answer.items() if k[0] == "need"} == {
        "isolation": 2, "housing": 1, "mental_wellbeing": 1}
    assert answer[("need", "mental_wellbeing")]["swemwbs_mean_change"] is None
    assert {k[1]: v["referrals"] for k, v in answer.items() if k[0] == "referred_from"} == {
        "primary": 1, "self": 1, "secondary": 1}
    assert {k[1] for k in answer if k[0] == "age_band"} == {"18-25", "26-35", "36-45"}
    assert answer[("imd_quintile", "unknown")]["referrals"] == 1


def test_q08_lost_at_transition(warehouse):
    answer = {(r["from_setting"], r["to_setting"]): r for r in _answer(warehouse, "q08")}
    # from the setting that made the referral: C's social prescribing referral came from her GP, not the
    # CMHT that rejected her; E's self-referral to the VCSE while in Talking Therapies is nobody's referral
    assert set(answer) == {("primary", "secondary"), ("primary", "talking_therapies"), ("primary", "primary"),
                           ("primary", "vcse"), ("secondary", "vcse"), ("talking_therapies", "secondary")}
    to_secondary = answer[("primary", "secondary")]
    assert {k: to_secondary[k] for k in ("people_referred", "people_never_seen", "not_received", "rejected",
                                         "closed_unseen", "open_unseen")} == {
        "people_referred": 5, "people_never_seen": 3, "not_received": 1, "rejected": 2, "closed_unseen": 0,
        "open_unseen": 0}
    assert (answer[("secondary", "vcse")]["people_referred"], answer[("secondary", "vcse")]["open_unseen"]) == (1, 1)
    assert sum(r["people_never_seen"] for r in answer.values()) == 4


def test_q09_dna_rate(warehouse):
    answer = {(r["mechanism"], r["group_dimension"], r["group_value"]): r for r in _answer(warehouse, "q09")}
    phone = answer[("telephone", "all", "all")]
    assert (phone["appointments"], phone["dnas"], phone["dna_rate"]) == (4, 2, 50.0)
    assert answer[("telephone", "sex", "female")]["dna_rate"] == pytest.approx(100 / 3)
    assert answer[("telephone", "sex", "male")]["dna_rate"] == 100.0
    assert (answer[("face_to_face", "all", "all")]["appointments"], answer[("face_to_face", "all", "all")]["dnas"]) == (
        13, 0)
    assert answer[("video", "all", "all")]["appointments"] == 2


def test_q10_care_plans(warehouse):
    answer = _answer(warehouse, "q10")
    assert [r["service_type_code"] for r in answer] == ["A06", "all secondary"]
    for row in answer:                       # A (crisis plan), D (none) and F (care plan) are on the caseload
        assert (row["people_on_caseload"], row["with_care_plan"], row["with_crisis_plan"]) == (3, 2, 1)
        assert row["pct_with_care_plan"] == pytest.approx(200 / 3)
        assert row["pct_with_crisis_plan"] == pytest.approx(100 / 3)
