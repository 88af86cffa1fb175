"""NHS Talking Therapies outcome rules (reference.md), threshold by threshold, on hand-made referrals.

Extends test_marts_outcome.py (whose TT_CASES already cover PHQ-9 10/9, GAD-7 8/7, falls of 6 and
5/4, rises of 6, 4 and 5/3, and one reliable recovery); the cases here are the other sides of every
threshold: finished treatment (1 vs 2 treatment contacts, assessments, DNAs, cancellations, not
discharged), recovery needing both measures below caseness at the end, falls and rises of
amount-1 / amount / amount+1, improvement cancelled by a reliable rise in the other measure, and the
rate denominators. One warehouse per engine holds every case; each case is one person.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (  # noqa: E402
    BACKENDS, built_warehouse, contact, episode, key_of, merge_views, patient, received, rows, score,
)
from warehouse.marts import read_sql  # noqa: E402
from warehouse.questions import ask  # noqa: E402

PHQ9, GAD7 = "720433000", "445455005"
FLAGS = ("caseness_first", "caseness_last", "reliable_improvement", "reliable_deterioration", "recovery",
         "reliable_recovery")
RECEIVED, DISCHARGED = "2025-01-02", "2025-03-01"
# (date, appointment type, attendance): 01 assessment, 02 treatment, 03 assessment and treatment, 05 follow-up
TWO_TREATMENTS = [("2025-01-09", "02", "attended"), ("2025-02-09", "03", "attended")]


def _tt_referral(pid: str, phq: tuple[int, int] | None, gad: tuple[int, int] | None,
                 contacts: list[tuple[str, str, str]] = TWO_TREATMENTS, discharged: bool = True,
                 status: str = "active", at: str = "TT") -> dict:
    """A referral to `at` (Talking Therapies unless said), its contacts, and PHQ-9 / GAD-7 scored
    on 2025-01-09 (first) and 2025-02-09 (last); None leaves a measure out."""
    sid = f"r-{pid}"
    scores = []
    for code, pair in ((PHQ9, phq), (GAD7, gad)):
        if pair is not None:
            scores += [score(f"{pid}-{code}-1", pid, sid, "2025-01-09", code, pair[0]),
                       score(f"{pid}-{code}-2", pid, sid, "2025-02-09", code, pair[1])]
    return {
        "v_patient": [patient(pid)],
        "v_service_request": [received(sid, pid, RECEIVED, at, source="B1", status=status)],
        "v_episode_of_care": [episode(f"ep-{pid}", pid, sid, RECEIVED, DISCHARGED if discharged else None)],
        "v_encounter": [contact(f"{pid}-c{i}", pid, sid, day, at, attendance, app_type=app_type)
                        for i, (day, app_type, attendance) in enumerate(contacts)],
        "v_observation": scores,
    }


# --- finished a course of treatment: discharged with at least 2 (attended) treatment contacts ------

# (description, contacts, discharged, ServiceRequest status, expected finished)
FINISHED_CASES = [
    ("two attended treatment contacts, discharged", TWO_TREATMENTS, True, "active", True),
    ("three treatment contacts, discharged", [*TWO_TREATMENTS, ("2025-02-20", "02", "attended")], True, "active",
     True),
    ("one treatment contact, discharged", [("2025-01-09", "02", "attended")], True, "active", False),
    ("assessment (01) and one treatment contact", [("2025-01-05", "01", "attended"), ("2025-01-09", "02", "attended")],
     True, "active", False),
    ("assessment-and-treatment (03) twice", [("2025-01-05", "03", "attended"), ("2025-01-09", "03", "attended")],
     True, "active", True),
    ("assessments and follow-ups only", [("2025-01-05", "01", "attended"), ("2025-01-09", "05", "attended"),
                                         ("2025-02-09", "05", "attended")], True, "active", False),
    ("second treatment appointment not attended (DNA)",
     [("2025-01-09", "02", "attended"), ("2025-02-09", "02", "did_not_attend")], True, "active", False),
    ("second treatment appointment cancelled by the patient",
     [("2025-01-09", "02", "attended"), ("2025-02-09", "02", "cancelled_by_patient")], True, "active", False),
    ("second treatment appointment cancelled by the provider",
     [("2025-01-09", "02", "attended"), ("2025-02-09", "02", "cancelled_by_provider")], True, "active", False),
    ("two treatment contacts, not discharged (episode still open)", TWO_TREATMENTS, False, "active", False),
    ("two treatment contacts, ended (ServiceRequest completed) without an episode end date", TWO_TREATMENTS, False,
     "completed", True),
    ("two treatment contacts, referral rejected", TWO_TREATMENTS, True, "revoked", False),
    ("a treatment contact before the referral was received does not count",
     [("2024-12-20", "02", "attended"), ("2025-01-09", "02", "attended")], True, "active", False),
]
FINISHED_IDS = {case[0]: f"fin{i:02d}" for i, case in enumerate(FINISHED_CASES)}

# --- outcomes of finished referrals: (description, PHQ-9 first/last, GAD-7 first/last, TT_COMBINED flags) ---
# flags: caseness_first, caseness_last, reliable_improvement, reliable_deterioration, recovery, reliable_recovery
T, F, N = True, False, None
OUTCOME_CASES = [
    # caseness at the start: PHQ-9 >= 10 or GAD-7 >= 8 (10/9 and 8/7 alone: test_marts_outcome TT_CASES p1, p2)
    ("PHQ-9 9 and GAD-7 7 at the start: not at caseness, recovery does not apply", (9, 9), (7, 7), (F, F, F, F, N, N)),
    ("both at caseness at the start", (10, 4), (8, 3), (T, F, T, F, T, T)),
    # recovery: not at caseness on either measure at the end
    ("PHQ-9 still 10 at the end: not recovered", (14, 10), (5, 5), (T, T, F, F, F, F)),
    ("GAD-7 still 8 at the end: not recovered", (9, 5), (10, 8), (T, T, F, F, F, F)),
    ("PHQ-9 9 but GAD-7 8 at the end: recovery needs both below", (12, 9), (9, 8), (T, T, F, F, F, F)),
    ("PHQ-9 9 and GAD-7 7 at the end: recovered", (12, 9), (9, 7), (T, F, F, F, T, F)),
    # reliable improvement: PHQ-9 falls >= 6 or GAD-7 falls >= 4 (the other measure unchanged)
    ("PHQ-9 falls 5", (20, 15), (3, 3), (T, T, F, F, F, F)),
    ("PHQ-9 falls 6", (20, 14), (3, 3), (T, T, T, F, F, F)),
    ("PHQ-9 falls 7", (20, 13), (3, 3), (T, T, T, F, F, F)),
    ("GAD-7 falls 3", (3, 3), (15, 12), (T, T, F, F, F, F)),
    ("GAD-7 falls 4", (3, 3), (15, 11), (T, T, T, F, F, F)),
    ("GAD-7 falls 5", (3, 3), (15, 10), (T, T, T, F, F, F)),
    # ... and neither rises reliably
    ("PHQ-9 falls 6 while GAD-7 rises 3: improved", (18, 12), (5, 8), (T, T, T, F, F, F)),
    ("PHQ-9 falls 6 while GAD-7 rises 4: deteriorated, not improved", (18, 12), (5, 9), (T, T, F, T, F, F)),
    ("GAD-7 falls 4 while PHQ-9 rises 5: improved", (5, 10), (15, 11), (T, T, T, F, F, F)),
    ("GAD-7 falls 4 while PHQ-9 rises 6: deteriorated, not improved", (5, 11), (15, 11), (T, T, F, T, F, F)),
    # reliable deterioration: PHQ-9 rises >= 6 or GAD-7 rises >= 4 (rises of 5 / 3, 6, 4: TT_CASES p7-p9)
    ("PHQ-9 rises 7", (3, 10), (2, 2), (F, T, F, T, N, N)),
    ("GAD-7 rises 5", (2, 2), (3, 8), (F, T, F, T, N, N)),
    ("PHQ-9 rises 6 and GAD-7 rises 4", (4, 10), (3, 7), (F, T, F, T, N, N)),
    # reliable recovery: recovery and reliable improvement
    ("recovered with a reliable PHQ-9 fall (GAD-7 rises 3)", (12, 6), (4, 7), (T, F, T, F, T, T)),
    ("recovered but GAD-7 rose reliably: not a reliable recovery", (12, 6), (3, 7), (T, F, F, T, T, F)),
    ("reliably improved and at caseness, not recovered", (22, 16), (9, 9), (T, T, T, F, F, F)),
]
OUTCOME_IDS = {case[0]: f"out{i:02d}" for i, case in enumerate(OUTCOME_CASES)}

# (description, referral builder, whether a TT_COMBINED row is expected)
NOT_COMBINED_CASES = [
    ("PHQ-9 and GAD-7 paired in a CMHT referral: not Talking Therapies",
     lambda pid: _tt_referral(pid, (15, 5), (12, 3), at="CMHT")),
    ("GAD-7 scored once only: no combined outcome", lambda pid: _tt_referral(pid, (15, 5), None)),
]
NOT_COMBINED_IDS = {case[0]: f"nc{i:02d}" for i, case in enumerate(NOT_COMBINED_CASES)}


def world() -> dict:
    parts = [_tt_referral(FINISHED_IDS[d], (15, 5), (12, 4), contacts, discharged, status)
             for d, contacts, discharged, status, _ in FINISHED_CASES]
    parts += [_tt_referral(OUTCOME_IDS[d], phq, gad) for d, phq, gad, _ in OUTCOME_CASES]
    parts += [make(NOT_COMBINED_IDS[d]) for d, make in NOT_COMBINED_CASES]
    return merge_views(parts)


@pytest.fixture(scope="module", params=BACKENDS)
def warehouse(request, warehouse_for):
    yield from built_warehouse(warehouse_for(request.param), world())


@pytest.fixture(scope="module")
def by_person(warehouse) -> dict[str, dict]:
    """pid -> {"finished": m_referral.finished, measure: outcome row, ...}."""
    pids = [*FINISHED_IDS.values(), *OUTCOME_IDS.values(), *NOT_COMBINED_IDS.values()]
    people = {key_of(p): p for p in pids}
    result: dict[str, dict] = {p: {} for p in pids}
    for r in rows(warehouse, "SELECT person_key, finished FROM work.m_referral"):
        result[people[r["person_key"]]]["finished"] = r["finished"]
    for r in rows(warehouse, "SELECT * FROM analytics.outcome"):
        result[people[r["person_key"]]][r["measure"]] = r
    return result


@pytest.mark.parametrize("description, contacts, discharged, status, expected", FINISHED_CASES,
                         ids=[c[0] for c in FINISHED_CASES])
def test_finished_a_course_of_treatment(by_person, description, contacts, discharged, status, expected):
    person = by_person[FINISHED_IDS[description]]
    assert person["finished"] is expected
    # the national outcome (TT_COMBINED) is only for referrals that finished; per-measure rows always pair
    assert ("TT_COMBINED" in person) is expected
    assert person["PHQ9"]["change"] == -10 and person["GAD7"]["change"] == -8


@pytest.mark.parametrize("description, phq, gad, expected", OUTCOME_CASES, ids=[c[0] for c in OUTCOME_CASES])
def test_national_outcome_at_each_threshold(by_person, description, phq, gad, expected):
    person = by_person[OUTCOME_IDS[description]]
    assert person["finished"] is True
    combined = person["TT_COMBINED"]
    assert dict(zip(FLAGS, (combined[f] for f in FLAGS))) == dict(zip(FLAGS, expected))
    assert (person["PHQ9"]["change"], person["GAD7"]["change"]) == (phq[1] - phq[0], gad[1] - gad[0])


@pytest.mark.parametrize("description, make", NOT_COMBINED_CASES, ids=[c[0] for c in NOT_COMBINED_CASES])
def test_no_national_outcome_without_both_measures_in_talking_therapies(by_person, description, make):
    person = by_person[NOT_COMBINED_IDS[description]]
    assert "TT_COMBINED" not in person
    assert person["PHQ9"]["reliable_improvement"] is True      # the per-measure row is still there


def test_rate_denominators(warehouse):
    """Recovery rate = recovered / (finished - not at caseness at the start); reliable improvement,
    deterioration (and in q04 reliable recovery / at caseness) over all who finished."""
    finished = [expected for *_, expected in OUTCOME_CASES]
    finished += [(T, F, T, F, T, T)] * sum(1 for *_, done in FINISHED_CASES if done)   # PHQ 15->5, GAD 12->4
    at_caseness = sum(1 for f in finished if f[0])
    recovered = sum(1 for f in finished if f[4])
    improved = sum(1 for f in finished if f[2])
    reliably_recovered = sum(1 for f in finished if f[5])
    assert len(finished) > at_caseness > recovered > reliably_recovered > 0      # the cases can tell them apart

    (answer,) = [r for r in ask(warehouse, "q04").to_pylist() if r["group_dimension"] == "all"]
    assert (answer["finished"], answer["at_caseness"], answer["recovered"], answer["reliably_improved"],
            answer["reliably_recovered"]) == (len(finished), at_caseness, recovered, improved, reliably_recovered)
    assert answer["recovery_rate"] == pytest.approx(100 * recovered / at_caseness)
    assert answer["reliable_improvement_rate"] == pytest.approx(100 * improved / len(finished))
    assert answer["reliable_recovery_rate"] == pytest.approx(100 * reliably_recovered / at_caseness)

    (published,) = [r for r in rows(warehouse, read_sql("published_outcomes_by_group"))
                    if r["measure"] == "TT_COMBINED" and r["group_dimension"] == "all"]
    assert (published["finished"], published["at_caseness"], published["recovered"],
            published["reliably_improved"]) == (len(finished), at_caseness, recovered, improved)
