"""analytics.outcome: pairing, measure scoring, and the Talking Therapies / community outcome rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (
    LOINC, build, contact, episode, key_of, patient, received, rows, score,
)
from carebridge.core.reference import codes

PHQ9, GAD7, GAD7_LOINC = "720433000", "445455005", "70274-6"
FLAGS = ("caseness_first", "caseness_last", "reliable_improvement", "reliable_deterioration", "recovery",
         "reliable_recovery")


def _outcomes(engine) -> dict[tuple[str, str], dict]:
    """Outcome rows keyed by (person id, measure)."""
    people = {key_of(f"p{i}"): f"p{i}" for i in range(1, 20)}
    return {(people[r["person_key"]], r["measure"]): r for r in rows(engine, "SELECT * FROM analytics.outcome")}


def _flags(row: dict) -> tuple:
    return tuple(row[f] for f in FLAGS)


def _finished_tt(pid: str, phq: tuple[int, int], gad: tuple[int, int], discharged: bool = True) -> dict:
    """A Talking Therapies referral with two treatment contacts and first / last PHQ-9 and GAD-7."""
    sid = f"t-{pid}"
    return {
        "v_service_request": [received(sid, pid, "2025-01-02", "TT", source="B1")],
        "v_episode_of_care": [episode(f"ep-{pid}", pid, sid, "2025-01-02", "2025-03-01" if discharged else None)],
        "v_encounter": [contact(f"{pid}-c1", pid, sid, "2025-01-09", "TT", app_type="02"),
                        contact(f"{pid}-c2", pid, sid, "2025-02-09", "TT", app_type="03")],
        "v_observation": [score(f"{pid}-o1", pid, sid, "2025-01-09", PHQ9, phq[0]),
                          score(f"{pid}-o2", pid, sid, "2025-02-09", PHQ9, phq[1]),
                          score(f"{pid}-o3", pid, sid, "2025-01-09", GAD7, gad[0]),
                          score(f"{pid}-o4", pid, sid, "2025-02-09", GAD7_LOINC, gad[1], system=LOINC)],
    }


def _merge(*parts: dict) -> dict:
    merged: dict[str, list] = {}
    for part in parts:
        for view, view_rows in part.items():
            merged.setdefault(view, []).extend(view_rows)
    return merged


# (phq first, last), (gad first, last) -> TT_COMBINED flags (caseness_first, caseness_last, RI, RD, recovery, RR)
TT_CASES = {
    "p1": ((10, 9), (7, 7), (True, False, False, False, True, False)),    # PHQ-9 10 is caseness, 9 is not
    "p2": ((9, 9), (8, 7), (True, False, False, False, True, False)),     # GAD-7 8 is caseness, 7 is not
    "p3": ((9, 3), (7, 7), (False, False, True, False, None, None)),      # PHQ-9 falls 6: reliable; no caseness
    "p4": ((15, 10), (12, 8), (True, True, True, False, False, False)),   # falls 5 / 4: GAD-7 reliable only
    "p5": ((16, 9), (10, 14), (True, True, False, True, False, False)),   # GAD-7 rises 4: deteriorated, not improved
    "p6": ((12, 6), (9, 6), (True, False, True, False, True, True)),      # reliable recovery
    "p7": ((5, 11), (3, 6), (False, True, False, True, None, None)),      # PHQ-9 rises 6
    "p8": ((5, 10), (3, 7), (False, True, False, True, None, None)),      # GAD-7 rises 4
    "p9": ((5, 10), (3, 6), (False, True, False, False, None, None)),     # rises 5 / 3: not reliable
}


def test_talking_therapies_national_definitions_at_the_thresholds(engine):
    parts = [_finished_tt(pid, phq, gad) for pid, (phq, gad, _) in TT_CASES.items()]
    parts.append(_finished_tt("p10", (20, 5), (15, 3), discharged=False))  # not finished: no TT_COMBINED row
    build(engine, v_patient=[patient(f"p{i}") for i in range(1, 11)], **_merge(*parts))
    out = _outcomes(engine)
    for pid, (_, _, expected) in TT_CASES.items():
        assert _flags(out[(pid, "TT_COMBINED")]) == expected, pid
    assert (("p10", "TT_COMBINED") not in out) and ("p10", "PHQ9") in out
    # the per-measure rows keep each measure's own rules
    assert out[("p4", "PHQ9")]["change"] == -5 and out[("p4", "PHQ9")]["reliable_improvement"] is False
    assert out[("p4", "GAD7")]["change"] == -4 and out[("p4", "GAD7")]["reliable_improvement"] is True
    assert out[("p3", "PHQ9")]["recovery"] is None                        # not at caseness at the start
    combined = out[("p6", "TT_COMBINED")]
    assert (combined["first_score"], combined["last_score"], combined["change"]) == (None, None, None)
    assert out[("p6", "GAD7")]["last_score"] == 6                         # the LOINC-coded GAD-7 counts


def _community(pid: str, service: str, observations: list[tuple[str, str, float, str | None]],
               system: str = "http://snomed.info/sct") -> dict:
    sid = f"r-{pid}"
    return {
        "v_service_request": [received(sid, pid, "2025-01-02", service, source="A1")],
        "v_observation": [score(f"{pid}-o{i}", pid, sid, day, code, value, system=system, item=item)
                          for i, (day, code, value, item) in enumerate(observations)],
    }


def test_dialog_is_the_mean_of_items_1_to_8_and_experience_items_are_ignored(engine):
    items = codes()["measures"]["DIALOG"]["items"]
    first = [3, 4, 4, 5, 3, 4, 4, 5]            # mean 4.0
    last = [5, 5, 5, 5, 5, 5, 5, 6]             # mean 5.125
    observations = [("2025-01-10", code, v, None) for code, v in zip(items, first)]
    observations += [("2025-03-10", code, v, None) for code, v in zip(items, last)]
    observations += [(day, code, 1, None) for day in ("2025-01-10", "2025-03-10") for code in items[8:]]
    exact = [(day, code, v, None) for day, v in (("2025-01-10", 4), ("2025-03-10", 5)) for code in items[:8]]  # +1
    build(engine, v_patient=[patient("p1"), patient("p2")],
          **_merge(_community("p1", "CMHT", observations), _community("p2", "CMHT", exact)))
    out = _outcomes(engine)
    dialog = out[("p1", "DIALOG")]
    assert (dialog["first_score"], dialog["last_score"]) == (4.0, 5.125)
    assert dialog["change"] == pytest.approx(1.125)
    assert dialog["reliable_improvement"] is True and dialog["reliable_deterioration"] is False
    assert (dialog["caseness_first"], dialog["recovery"], dialog["reliable_recovery"]) == (None, None, None)
    assert out[("p2", "DIALOG")]["reliable_improvement"] is True


def test_swemwbs_converts_raw_totals_and_invalid_values_are_dropped(engine):
    measure_system = "https://fhir.carebridge.org.uk/CodeSystem/measure"
    swemwbs = [("2025-01-10", "SWEMWBS", 14, "total"), ("2025-02-10", "SWEMWBS", 40, "total"),   # 40: out of range
               ("2025-02-20", "SWEMWBS", 14.5, "total"), ("2025-03-10", "SWEMWBS", 21, "total")]  # 14.5: no raw total
    ons4 = [("2025-01-10", "ONS4", 4, "life_satisfaction"), ("2025-03-10", "ONS4", 7, "life_satisfaction"),
            ("2025-01-10", "ONS4", 6, "anxious"), ("2025-03-10", "ONS4", 3, "anxious")]
    phq = [("2025-01-10", PHQ9, 12, None), ("2025-02-10", PHQ9, 30, None), ("2025-03-10", PHQ9, 5, None),
           ("2025-03-11", GAD7, 9, None)]                                  # one GAD-7 only: not paired
    build(engine, v_patient=[patient("p1"), patient("p2")],
          **_merge(_community("p1", "SP", swemwbs + ons4, system=measure_system), _community("p2", "CMHT", phq)))
    out = _outcomes(engine)
    sw = out[("p1", "SWEMWBS")]
    assert (sw["first_score"], sw["last_score"]) == (15.32, 19.25)       # raw 14 and 21 on the metric scale
    assert sw["change"] == pytest.approx(3.93)
    assert sw["reliable_improvement"] is True
    life = out[("p1", "ONS4_LIFE_SATISFACTION")]
    assert (life["change"], life["reliable_improvement"]) == (3, None)   # no reliable-change amount
    assert out[("p1", "ONS4_ANXIOUS")]["change"] == -3
    phq9 = out[("p2", "PHQ9")]
    assert (phq9["first_score"], phq9["last_score"]) == (12, 5)
    assert ("p2", "GAD7") not in out


def test_reqol_reliable_recovery_needs_clinical_baseline_and_reliable_improvement(engine):
    reqol = "1091071000000100"

    def pair(first: int, last: int) -> list:
        return [("2025-01-10", reqol, first, None), ("2025-03-10", reqol, last, None)]

    build(engine, v_patient=[patient(f"p{i}") for i in range(1, 5)],
          **_merge(_community("p1", "CMHT", pair(20, 25)), _community("p2", "CMHT", pair(24, 28)),
                   _community("p3", "CMHT", pair(25, 35)), _community("p4", "CMHT", pair(30, 24))))
    out = _outcomes(engine)
    assert _flags(out[("p1", "REQOL10")]) == (True, False, True, False, True, True)
    assert _flags(out[("p2", "REQOL10")]) == (True, False, False, False, True, False)   # improved by 4 only
    assert _flags(out[("p3", "REQOL10")]) == (False, False, True, False, None, None)    # not in clinical range
    assert _flags(out[("p4", "REQOL10")]) == (False, True, False, True, None, None)


def test_goal_based_outcomes_average_the_goals_per_date(engine):
    goals = codes()["measures"]["GBO"]["snomed"]
    observations = [("2025-01-10", g, v, None) for g, v in zip(goals, (2, 4, 6))]
    observations += [("2025-03-10", g, v, None) for g, v in zip(goals, (5, 7, 9))]
    build(engine, v_patient=[patient("p1")], **_community("p1", "CMHT", observations))
    gbo = _outcomes(engine)[("p1", "GBO")]
    assert (gbo["first_score"], gbo["last_score"], gbo["change"], gbo["reliable_improvement"]) == (4, 7, 3, True)
