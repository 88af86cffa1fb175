"""Waits (reference.md access standards) on hand-made referrals: which contacts stop the clock, and
the share within each standard in published.waits_by_service at standard-1 / standard / standard+1.

Only attended contacts (AttendStatus 5 and 6) on or after the received date count: a DNA (3), an
arrival too late to be seen (7) and a cancellation by either side (2, 4) do not stop the clock. In
Talking Therapies the first treatment is the first attended treatment appointment (02 treatment,
03 assessment and treatment), never an assessment (01) or follow-up (05). A wait of exactly the
standard's days is within it. One warehouse per engine holds every case; each case is one person.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (  # noqa: E402
    BACKENDS, built_warehouse, contact, key_of, merge_views, patient, received, rows,
)

RECEIVED = date(2025, 1, 6)
# attendance -> the source AttendStatus it stands for (kept on the Encounter; the marts read `attendance`)
ATTEND_CODE = {"attended": "5", "late_seen": "6", "late_not_seen": "7", "did_not_attend": "3",
               "cancelled_by_patient": "2", "cancelled_by_provider": "4"}
ATTENDANCE = {"late_seen": "attended", "late_not_seen": "did_not_attend"}


def _day(offset: int) -> str:
    return (RECEIVED + timedelta(days=offset)).isoformat()


def _referral(pid: str, at: str, contacts: list[tuple], received_on: date = RECEIVED) -> dict:
    """A referral to `at` received on `received_on`; contacts as (days after receipt, attendance[, app type])."""
    sid = f"r-{pid}"
    encounters = []
    for i, (offset, attendance, *app_type) in enumerate(contacts):
        day = (received_on + timedelta(days=offset)).isoformat()
        encounters.append(contact(f"{pid}-c{i}", pid, sid, day, at, ATTENDANCE.get(attendance, attendance),
                                  app_type=app_type[0] if app_type else None, attendance_code=ATTEND_CODE[attendance]))
    return {"v_patient": [patient(pid)],
            "v_service_request": [received(sid, pid, received_on.isoformat(), at, source="A1")],
            "v_encounter": encounters}


# --- which contacts stop the clock -------------------------------------------------------------
# (description, service, contacts, expected days to (first contact, second contact, first treatment))
A, DNA = "attended", "did_not_attend"
CLOCK_CASES = [
    ("seen on the day of receipt: a wait of 0", "CMHT", [(0, A)], (0, None, 0)),
    ("a contact before receipt does not count", "CMHT", [(-3, A), (5, A)], (5, None, 5)),
    ("a DNA does not stop the clock", "CMHT", [(3, DNA), (10, A), (20, A)], (10, 20, 10)),
    ("arrived late and not seen (7) does not stop the clock", "CMHT", [(3, "late_not_seen"), (10, A)], (10, None, 10)),
    ("arrived late but seen (6) stops it", "CMHT", [(3, "late_seen"), (10, A)], (3, 10, 3)),
    ("cancelled by the patient does not stop it", "CMHT", [(3, "cancelled_by_patient"), (8, A)], (8, None, 8)),
    ("cancelled by the provider does not stop it", "CMHT", [(3, "cancelled_by_provider"), (8, A)], (8, None, 8)),
    ("the second contact is the second attended one", "CMHT",
     [(2, A), (5, DNA), (9, "cancelled_by_provider"), (12, "late_not_seen"), (16, A)], (2, 16, 2)),
    ("two attended contacts on one day are the first and the second", "CMHT", [(4, A), (4, A)], (4, 4, 4)),
    ("no attended contact: no wait ends", "CMHT", [(3, DNA), (6, "cancelled_by_patient")], (None, None, None)),
    ("EIP: the first attended contact", "EIP", [(1, DNA), (13, A)], (13, None, 13)),
    ("TT: an assessment is a first contact, not the first treatment", "TT", [(3, A, "01"), (20, A, "02")],
     (3, 20, 20)),
    ("TT: a DNA'd treatment appointment is not the first treatment", "TT",
     [(3, A, "01"), (10, DNA, "02"), (25, A, "02")], (3, 25, 25)),
    ("TT: a late-not-seen treatment appointment is not either", "TT",
     [(3, A, "01"), (10, "late_not_seen", "02"), (26, A, "02")], (3, 26, 26)),
    ("TT: a cancelled treatment appointment is not either", "TT",
     [(3, A, "01"), (10, "cancelled_by_provider", "02"), (27, A, "03")], (3, 27, 27)),
    ("TT: a follow-up is not treatment", "TT", [(3, A, "05"), (30, A, "03")], (3, 30, 30)),
    ("TT: assessment-and-treatment (03) is treatment", "TT", [(7, A, "03")], (7, None, 7)),
    ("TT: assessments only: no first treatment", "TT", [(3, A, "01"), (9, A, "01")], (3, 9, None)),
    ("TT: a treatment before receipt does not count", "TT", [(-2, A, "02"), (12, A, "02")], (12, None, 12)),
]
CLOCK_IDS = {case[0]: f"ck{i:02d}" for i, case in enumerate(CLOCK_CASES)}

# --- the standards, at their boundaries: five referrals at each wait, every wait ending on REACHED ----
# (service, wait measure, waits in days): what is measured is set by codes.yaml wait_standards
REACHED = date(2025, 6, 20)
STANDARD_CASES = [
    ("TT", "first_treatment", (41, 42, 43, 125, 126, 127)),
    ("EIP", "first_contact", (13, 14, 15)),
    ("CMHT", "second_contact", (27, 28, 29)),
]
PER_WAIT = 5


def _standard_referral(pid: str, at: str, measure: str, wait: int) -> dict:
    """A referral whose measured event is reached `wait` days after receipt, on REACHED, with the
    contacts around it that must not count (an earlier assessment, DNA or first contact)."""
    received_on = REACHED - timedelta(days=wait)
    if measure == "first_treatment":
        contacts = [(1, A, "01"), (2, DNA, "02"), (wait, A, "02")]
    elif measure == "first_contact":
        contacts = [(1, DNA), (2, "cancelled_by_patient"), (wait, A)]
    else:
        contacts = [(0, A), (1, DNA), (wait, A)]
    return _referral(pid, at, contacts, received_on)


def _standard_ids() -> list[tuple[str, str, str, int]]:
    return [(f"st-{at}-{wait}-{n}", at, measure, wait)
            for at, measure, waits in STANDARD_CASES for wait in waits for n in range(PER_WAIT)]


def world() -> dict:
    parts = [_referral(CLOCK_IDS[d], at, contacts) for d, at, contacts, _ in CLOCK_CASES]
    parts += [_standard_referral(pid, at, measure, wait) for pid, at, measure, wait in _standard_ids()]
    return merge_views(parts)


@pytest.fixture(scope="module", params=BACKENDS)
def warehouse(request, warehouse_for):
    yield from built_warehouse(warehouse_for(request.param), world(), publish=True)


@pytest.fixture(scope="module")
def referrals(warehouse) -> dict[str, dict]:
    people = {key_of(p): p for p in [*CLOCK_IDS.values(), *(s[0] for s in _standard_ids())]}
    return {people[r["person_key"]]: r for r in rows(warehouse, "SELECT * FROM analytics.referral")}


def _days(referral: dict, column: str) -> int | None:
    return None if referral[column] is None else (referral[column] - referral["received_date"]).days


@pytest.mark.parametrize("description, at, contacts, expected", CLOCK_CASES, ids=[c[0] for c in CLOCK_CASES])
def test_what_stops_the_clock(referrals, description, at, contacts, expected):
    referral = referrals[CLOCK_IDS[description]]
    got = tuple(_days(referral, c) for c in ("first_contact_date", "second_contact_date", "first_treatment_date"))
    assert got == expected
    assert (referral["wait_first_contact_days"], referral["wait_second_contact_days"]) == expected[:2]
    attended = sum(1 for offset, attendance, *_ in contacts if ATTENDANCE.get(attendance, attendance) == A)
    dnas = sum(1 for _, attendance, *_ in contacts if ATTENDANCE.get(attendance, attendance) == DNA)
    assert (referral["attended_contacts"], referral["dna_contacts"]) == (attended, dnas)


@pytest.mark.parametrize("at, measure, waits", STANDARD_CASES, ids=[c[0] for c in STANDARD_CASES])
def test_each_wait_is_measured_to_its_event(referrals, at, measure, waits):
    column = {"first_treatment": "first_treatment_date", "first_contact": "first_contact_date",
              "second_contact": "second_contact_date"}[measure]
    for pid, service, _, wait in _standard_ids():
        if service == at:
            assert _days(referrals[pid], column) == wait, pid


# (service type, wait measure, standard days) -> (referrals, median wait, % within the standard)
PUBLISHED = {
    ("TT", "first_treatment", 42): (30, 84.0, 33.3),        # 41 and 42 within, 43 not
    ("TT", "first_treatment", 126): (30, 84.0, 83.3),       # up to 126 within, 127 not
    # The clock cases' few A14 and A06 waits in other months are suppressed, and the whole-period
    # total (waits_by_group) would give them away from June's: June is suppressed too.
    ("A14", "first_contact", 14): (None, None, None),
    ("A06", "second_contact", 28): (None, None, None),
}
# Before disclosure control: (referrals, within the standard).
UNROUNDED = {
    ("TT", "first_treatment", 42): (30, 10),
    ("TT", "first_treatment", 126): (30, 25),
    ("A14", "first_contact", 14): (15, 10),                 # 13 and 14 within, 15 not
    ("A06", "second_contact", 28): (15, 10),                # 27 and 28 within, 29 not
}


def test_published_share_within_standard_counts_a_wait_of_exactly_the_standard(warehouse):
    from warehouse.publish import published_sql

    got = {(r["service_type"], r["wait_measure"], r["standard_days"]):
           (r["referrals"], r["median_wait_days"], r["pct_within_standard"])
           for r in rows(warehouse, "SELECT * FROM published.waits_by_service WHERE period = '2025-06'")}
    assert got == PUBLISHED
    raw = {(r["service_type"], r["wait_measure"], r["standard_days"]): (r["referrals"], r["within_standard"])
           for r in rows(warehouse, f"SELECT * FROM ({published_sql('waits_by_service')}) AS w WHERE period = '2025-06'")}
    assert raw == UNROUNDED
