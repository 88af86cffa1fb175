"""Community paired-PROM rules (reference.md) on hand-made cases at and around every threshold.

Extends test_marts_outcome.py (DIALOG scoring, SWEMWBS conversion, ReQoL-10 20->25 / 24->28 /
25->35 / 30->24, GBO goal means): here reliable change at amount-1 / amount / amount+1 in both
directions for lower- and higher-is-better measures, ReQoL-10 reliable recovery at 24/25 on both
ends, pairing (first vs latest valid by date, same-date scores, invalid scores, single scores), and
which community referrals count (open ones only from their second attended contact).
One warehouse per engine holds every case; each case is one person with one referral.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (  # noqa: E402
    BACKENDS, built_warehouse, contact, episode, key_of, merge_views, patient, received, rows, score,
)
from carebridge.core.reference import codes  # noqa: E402
from warehouse.marts import read_sql  # noqa: E402

MEASURE_SYSTEM = "https://fhir.carebridge.org.uk/CodeSystem/measure"   # VCSE wellbeing scores: local item names
CODE = {"PHQ9": "720433000", "GAD7": "445455005", "CORE10": "718583008", "REQOL10": "1091071000000100"}
DIALOG_ITEMS = codes()["measures"]["DIALOG"]["items"]
GOAL_1 = codes()["measures"]["GBO"]["snomed"][0]
FIRST, LAST = "2025-01-10", "2025-03-10"
T, F, N = True, False, None


def _observations(pid: str, measure: str, day: str | None, value, n: int) -> list[dict]:
    """The observation(s) recording `value` of `measure` on `day` (DIALOG: a list of 8 item values)."""
    sid, oid = f"r-{pid}", f"{pid}-o{n}"
    if measure == "DIALOG":
        return [score(f"{oid}-{i}", pid, sid, day, code, v) for i, (code, v) in enumerate(zip(DIALOG_ITEMS, value))]
    if measure == "GBO":
        return [score(oid, pid, sid, day, GOAL_1, value)]
    if measure == "SWEMWBS":
        return [score(oid, pid, sid, day, "SWEMWBS", value, system=MEASURE_SYSTEM, item="total")]
    if measure.startswith("ONS4_"):
        item = measure.removeprefix("ONS4_").lower()
        return [score(oid, pid, sid, day, "ONS4", value, system=MEASURE_SYSTEM, item=item)]
    if measure == "WSAS":
        return [score(oid, pid, sid, day, "WSAS", value, system=MEASURE_SYSTEM, item="total")]
    return [score(oid, pid, sid, day, CODE[measure], value)]


def _referral(pid: str, scores: list[tuple[str, str | None, object]], at: str = "CMHT",
              contacts: list[tuple[str, str]] = (), discharged: bool = False) -> dict:
    """A referral to `at` received 2025-01-02, with `scores` as (measure, day, value) and `contacts`
    as (day, attendance)."""
    sid = f"r-{pid}"
    return {
        "v_patient": [patient(pid)],
        "v_service_request": [received(sid, pid, "2025-01-02", at, source="A1")],
        "v_episode_of_care": [episode(f"ep-{pid}", pid, sid, "2025-01-02", "2025-04-01" if discharged else None)],
        "v_encounter": [contact(f"{pid}-c{i}", pid, sid, day, at, attendance) for i, (day, attendance) in
                        enumerate(contacts)],
        "v_observation": [o for n, (measure, day, value) in enumerate(scores)
                          for o in _observations(pid, measure, day, value, n)],
    }


def _pair(measure: str, first, last) -> list[tuple[str, str, object]]:
    return [(measure, FIRST, first), (measure, LAST, last)]


# --- reliable change: (description, measure, first, last, expected reliable_improvement, reliable_deterioration) ---
# DIALOG values are the 8 items 1-8 (the score is their mean); SWEMWBS values are raw totals (metric table).
D4 = [4] * 8
RELIABLE_CASES = [
    # lower is better
    ("PHQ-9 falls 5 (amount 6)", "PHQ9", 16, 11, F, F),
    ("PHQ-9 falls 6", "PHQ9", 16, 10, T, F),
    ("PHQ-9 falls 7", "PHQ9", 16, 9, T, F),
    ("PHQ-9 rises 5", "PHQ9", 5, 10, F, F),
    ("PHQ-9 rises 6", "PHQ9", 5, 11, F, T),
    ("PHQ-9 rises 7", "PHQ9", 5, 12, F, T),
    ("GAD-7 falls 3 (amount 4)", "GAD7", 12, 9, F, F),
    ("GAD-7 falls 4", "GAD7", 12, 8, T, F),
    ("GAD-7 falls 5", "GAD7", 12, 7, T, F),
    ("GAD-7 rises 3", "GAD7", 3, 6, F, F),
    ("GAD-7 rises 4", "GAD7", 3, 7, F, T),
    ("GAD-7 rises 5", "GAD7", 3, 8, F, T),
    ("CORE-10 falls 4 (amount 5)", "CORE10", 20, 16, F, F),
    ("CORE-10 falls 5", "CORE10", 20, 15, T, F),
    ("CORE-10 falls 6", "CORE10", 20, 14, T, F),
    ("CORE-10 rises 4", "CORE10", 20, 24, F, F),
    ("CORE-10 rises 5", "CORE10", 20, 25, F, T),
    ("CORE-10 rises 6", "CORE10", 20, 26, F, T),
    # higher is better
    ("ReQoL-10 rises 4 (amount 5)", "REQOL10", 30, 34, F, F),
    ("ReQoL-10 rises 5", "REQOL10", 30, 35, T, F),
    ("ReQoL-10 rises 6", "REQOL10", 30, 36, T, F),
    ("ReQoL-10 falls 4", "REQOL10", 30, 26, F, F),
    ("ReQoL-10 falls 5", "REQOL10", 30, 25, F, T),
    ("ReQoL-10 falls 6", "REQOL10", 30, 24, F, T),
    ("GBO goal rises 2 (amount 3)", "GBO", 4, 6, F, F),
    ("GBO goal rises 3", "GBO", 4, 7, T, F),
    ("GBO goal rises 4", "GBO", 4, 8, T, F),
    ("GBO goal falls 2", "GBO", 4, 2, F, F),
    ("GBO goal falls 3", "GBO", 4, 1, F, T),
    ("GBO goal falls 4", "GBO", 4, 0, F, T),
    ("DIALOG mean rises 0.875 (amount 1)", "DIALOG", D4, [5] * 7 + [4], F, F),
    ("DIALOG mean rises 1", "DIALOG", D4, [5] * 8, T, F),
    ("DIALOG mean rises 1.125", "DIALOG", D4, [5] * 7 + [6], T, F),
    ("DIALOG mean falls 0.875", "DIALOG", D4, [3] * 7 + [4], F, F),
    ("DIALOG mean falls 1", "DIALOG", D4, [3] * 8, F, T),
    ("DIALOG mean falls 1.125", "DIALOG", D4, [3] * 7 + [2], F, T),
    # SWEMWBS: reliable change 3 on the metric score; no pair of metric scores is exactly 3 apart
    ("SWEMWBS raw 27->30: metric +2.92 (amount 3)", "SWEMWBS", 27, 30, F, F),
    ("SWEMWBS raw 11->16: metric +3.03", "SWEMWBS", 11, 16, T, F),
    ("SWEMWBS raw 10->14: raw +4 but metric +2.92", "SWEMWBS", 10, 14, F, F),
    ("SWEMWBS raw 30->27: metric -2.92", "SWEMWBS", 30, 27, F, F),
    ("SWEMWBS raw 16->11: metric -3.03", "SWEMWBS", 16, 11, F, T),
    # no reliable-change amount: the flags do not apply
    ("WSAS has no reliable-change amount", "WSAS", 30, 5, N, N),
    ("ONS4 life satisfaction has none", "ONS4_LIFE_SATISFACTION", 2, 9, N, N),
    ("ONS4 anxious has none (lower is better)", "ONS4_ANXIOUS", 9, 2, N, N),
]
RELIABLE_IDS = {case[0]: f"rc{i:02d}" for i, case in enumerate(RELIABLE_CASES)}

# --- ReQoL-10: clinical range below 25; reliable recovery = baseline < 25, follow-up >= 25, reliable improvement ---
# (description, first, last, (caseness_first, caseness_last, reliable_improvement, recovery, reliable_recovery))
REQOL_CASES = [
    ("24 -> 29: reliable recovery", 24, 29, (T, F, T, T, T)),
    ("25 -> 30: not in the clinical range at the start", 25, 30, (F, F, T, N, N)),
    ("19 -> 24: reliably improved, still in the clinical range", 19, 24, (T, T, T, F, F)),
    ("19 -> 25: reliable recovery at the follow-up boundary", 19, 25, (T, F, T, T, T)),
    ("21 -> 25: recovered, improved by 4 only", 21, 25, (T, F, F, T, F)),
    ("24 -> 25: recovered by one point", 24, 25, (T, F, F, T, F)),
    ("24 -> 24: no change", 24, 24, (T, T, F, F, F)),
    ("25 -> 24: into the clinical range", 25, 24, (F, T, F, N, N)),
]
REQOL_IDS = {case[0]: f"rq{i:02d}" for i, case in enumerate(REQOL_CASES)}

# --- pairing: (description, scores as (measure, day, value), expected (first_score, first_date, last_score,
# last_date) of that measure, or None when there is no pair) ---
ITEMS_7 = [4] * 7                               # DIALOG with item 8 missing
PAIRING_CASES = [
    ("a single score is not a pair", [("PHQ9", FIRST, 12)], None),
    ("two scores on the same date are one assessment, not a pair", [("PHQ9", FIRST, 12), ("PHQ9", FIRST, 14)], None),
    ("same-date scores are averaged", [("PHQ9", FIRST, 12), ("PHQ9", FIRST, 14), ("PHQ9", LAST, 8)],
     (13, FIRST, 8, LAST)),
    ("first and latest by date, the middle one ignored",
     [("PHQ9", "2025-02-01", 5), ("PHQ9", LAST, 14), ("PHQ9", FIRST, 20)], (20, FIRST, 14, LAST)),
    ("out-of-range scores are skipped at both ends",
     [("PHQ9", "2025-01-05", 28), ("PHQ9", FIRST, 12), ("PHQ9", "2025-02-01", -1), ("PHQ9", LAST, 7),
      ("PHQ9", "2025-03-20", 30)], (12, FIRST, 7, LAST)),
    ("the range ends are valid", [("PHQ9", FIRST, 27), ("PHQ9", LAST, 0)], (27, FIRST, 0, LAST)),
    ("one valid and one out-of-range score is not a pair", [("PHQ9", FIRST, 12), ("PHQ9", LAST, 28)], None),
    ("a fractional total is not a valid score", [("PHQ9", "2025-01-05", 12.5), ("PHQ9", FIRST, 12), ("PHQ9", LAST, 6)],
     (12, FIRST, 6, LAST)),
    ("a score without a date is skipped", [("PHQ9", None, 20), ("PHQ9", FIRST, 12), ("PHQ9", LAST, 6)],
     (12, FIRST, 6, LAST)),
    ("SWEMWBS raw total out of range (36) is skipped", [("SWEMWBS", FIRST, 14), ("SWEMWBS", LAST, 36)], None),
    ("DIALOG with an item of 1-8 missing is not a score",
     [("DIALOG", "2025-01-05", ITEMS_7), ("DIALOG", FIRST, D4), ("DIALOG", LAST, [5] * 8)], (4, FIRST, 5, LAST)),
    ("DIALOG with an out-of-range item is not a score",
     [("DIALOG", FIRST, D4), ("DIALOG", LAST, [5] * 7 + [8])], None),
    ("DIALOG items 1-8 make a score without the experience items 9-11",
     [("DIALOG", FIRST, D4), ("DIALOG", LAST, [6] * 8)], (4, FIRST, 6, LAST)),
]
PAIRING_IDS = {case[0]: f"pa{i:02d}" for i, case in enumerate(PAIRING_CASES)}

# --- which community referrals count: closed or open, and at least 2 attended contacts ---
# (description, contacts as (day, attendance), discharged, expected counted)
COUNTED_CASES = [
    ("open, one attended contact", [("2025-01-10", "attended")], False, False),
    ("open, two attended contacts", [("2025-01-10", "attended"), ("2025-03-10", "attended")], False, True),
    ("open, one attended contact and one DNA", [("2025-01-10", "attended"), ("2025-03-10", "did_not_attend")], False,
     False),
    ("open, one attended contact and one cancelled", [("2025-01-10", "attended"),
                                                       ("2025-03-10", "cancelled_by_provider")], False, False),
    ("closed, one attended contact", [("2025-01-10", "attended")], True, False),
    ("closed, two attended contacts", [("2025-01-10", "attended"), ("2025-03-10", "attended")], True, True),
]
COUNTED_IDS = {case[0]: f"cc{i:02d}" for i, case in enumerate(COUNTED_CASES)}


def world() -> dict:
    parts = [_referral(RELIABLE_IDS[d], _pair(m, first, last), at="SP" if m in ("SWEMWBS", "WSAS") or
                       m.startswith("ONS4_") else "CMHT") for d, m, first, last, *_ in RELIABLE_CASES]
    parts += [_referral(REQOL_IDS[d], _pair("REQOL10", first, last)) for d, first, last, _ in REQOL_CASES]
    parts += [_referral(PAIRING_IDS[d], scores, at="SP" if scores[0][0] == "SWEMWBS" else "CMHT")
              for d, scores, _ in PAIRING_CASES]
    parts += [_referral(COUNTED_IDS[d], _pair("REQOL10", 20, 26), contacts=contacts, discharged=discharged)
              for d, contacts, discharged, _ in COUNTED_CASES]
    return merge_views(parts)


@pytest.fixture(scope="module", params=BACKENDS)
def warehouse(request, warehouse_for):
    yield from built_warehouse(warehouse_for(request.param), world())


@pytest.fixture(scope="module")
def outcomes(warehouse) -> dict[tuple[str, str], dict]:
    """(pid, measure) -> analytics.outcome row."""
    pids = [*RELIABLE_IDS.values(), *REQOL_IDS.values(), *PAIRING_IDS.values(), *COUNTED_IDS.values()]
    people = {key_of(p): p for p in pids}
    return {(people[r["person_key"]], r["measure"]): r for r in rows(warehouse, "SELECT * FROM analytics.outcome")}


@pytest.mark.parametrize("description, measure, first, last, improved, deteriorated", RELIABLE_CASES,
                         ids=[c[0] for c in RELIABLE_CASES])
def test_reliable_change_at_the_amount(outcomes, description, measure, first, last, improved, deteriorated):
    row = outcomes[(RELIABLE_IDS[description], measure)]
    assert (row["reliable_improvement"], row["reliable_deterioration"]) == (improved, deteriorated)
    assert (row["first_date"], row["last_date"]) == (date.fromisoformat(FIRST), date.fromisoformat(LAST))
    if measure not in ("DIALOG", "SWEMWBS"):
        assert (row["first_score"], row["last_score"], row["change"]) == (first, last, last - first)
    if measure not in ("REQOL10", "PHQ9", "GAD7"):      # no cut-off: caseness and recovery do not apply
        assert (row["caseness_first"], row["recovery"], row["reliable_recovery"]) == (None, None, None)


@pytest.mark.parametrize("description, first, last, expected", REQOL_CASES, ids=[c[0] for c in REQOL_CASES])
def test_reqol_reliable_recovery_at_24_and_25(outcomes, description, first, last, expected):
    row = outcomes[(REQOL_IDS[description], "REQOL10")]
    got = tuple(row[f] for f in ("caseness_first", "caseness_last", "reliable_improvement", "recovery",
                                 "reliable_recovery"))
    assert got == expected


@pytest.mark.parametrize("description, scores, expected", PAIRING_CASES, ids=[c[0] for c in PAIRING_CASES])
def test_pairing_first_and_latest_valid_score(outcomes, description, scores, expected):
    measure = scores[0][0]
    row = outcomes.get((PAIRING_IDS[description], measure))
    if expected is None:
        assert row is None
        return
    assert row is not None
    first, first_day, last, last_day = expected
    assert (row["first_score"], row["first_date"], row["last_score"], row["last_date"]) == (
        first, date.fromisoformat(first_day), last, date.fromisoformat(last_day))
    assert row["change"] == pytest.approx(last - first)


@pytest.mark.parametrize("description, contacts, discharged, counted", COUNTED_CASES,
                         ids=[c[0] for c in COUNTED_CASES])
def test_community_referrals_count_from_their_second_attended_contact(warehouse, outcomes, description, contacts,
                                                                     discharged, counted):
    pid = COUNTED_IDS[description]
    (referral,) = rows(warehouse, f"SELECT finished, status FROM work.m_referral "
                                  f"WHERE person_key = '{key_of(pid)}'")
    assert referral["status"] == ("closed" if discharged else "open")
    assert referral["finished"] is counted
    assert outcomes[(pid, "REQOL10")]["reliable_recovery"] is True      # paired whether counted or not


def test_published_outcomes_count_only_the_counted_community_referrals(warehouse):
    """published outcomes_by_group before disclosure control: only the COUNTED_CASES referrals have
    contacts, so the CMHT (A06) ReQoL-10 row holds exactly those that count (all 20 -> 26)."""
    (row,) = [r for r in rows(warehouse, read_sql("published_outcomes_by_group"))
              if (r["service_type"], r["measure"], r["group_dimension"]) == ("A06", "REQOL10", "all")]
    counted = sum(1 for *_, c in COUNTED_CASES if c)
    assert (row["finished"], row["at_caseness"], row["recovered"], row["reliably_improved"]) == (
        counted, counted, counted, counted)
