"""analytics.journey_step transitions at their edges (the definitions are in journey_step.sql's header).

Extends test_marts_referral.py (every transition kind once, not-received referrals ordered by the
GP's date): here same-day referrals, re-referral to the same service after discharge, while still
open and after its rejection, bounced back only after the rejection, undated rejections, days since
the previous step, and `seen` (attended only). One warehouse per engine; each case is one person.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (  # noqa: E402
    BACKENDS, build, built_warehouse, contact, episode, gp_referral, key_of, merge_views, patient, received, rows,
)
from warehouse.db import ensure_schemas, make_engine  # noqa: E402


def _ref(n: int, day: str, at: str, **extra) -> tuple:
    return ("received", n, day, at, extra)


def _gp(n: int, day: str, at: str, **extra) -> tuple:
    return ("gp", n, day, at, extra)


# (description, referrals, contacts as (referral n, day, attendance), expected steps as
#  (to service, transition, from_setting, days_since_previous, seen)) - steps in journey order.
# A referral: (kind, n, date, service, extra columns). `received`: the service's own record (source
# = its source of referral code). `gp`: a GP's referral, received on `received_on` when given, else
# never received (or, to the practice's own MHP, received by the practice the same day).
CASES = [
    ("same day: Talking Therapies and CMHT, lower setting first",
     [_ref(1, "2025-02-03", "CMHT", source="A1"), _ref(2, "2025-02-03", "TT", source="B1")], [],
     [("TT", "first_referral", "self", None, False), ("CMHT", "step_up", "talking_therapies", 0, False)]),
    ("same day: CMHT and VCSE, lower setting first",
     [_ref(1, "2025-02-03", "SP", source="gp"), _ref(2, "2025-02-03", "CMHT", source="A1")], [],
     [("SP", "first_referral", "primary", None, False), ("CMHT", "step_up", "vcse", 0, False)]),
    ("same day: VCSE and Talking Therapies, lower setting first",
     [_ref(1, "2025-02-03", "TT", source="B1"), _ref(2, "2025-02-03", "SP", source="self")], [],
     [("SP", "first_referral", "self", None, False), ("TT", "step_up", "vcse", 0, False)]),
    ("same day, same rank: by service",
     [_ref(1, "2025-02-03", "EIP", source="A1"), _ref(2, "2025-02-03", "CMHT", source="A1")], [],
     [("CMHT", "first_referral", "primary", None, False), ("EIP", "sideways", "secondary", 0, False)]),
    ("same day: a GP referral made earlier comes first",
     [_gp(1, "2025-01-20", "CMHT", received_on="2025-02-03"), _ref(2, "2025-02-03", "TT", source="B1")], [],
     [("CMHT", "first_referral", "primary", None, False), ("TT", "step_down", "secondary", 0, False)]),
    ("re-referral to the same service after discharge",
     [_ref(1, "2025-01-06", "CMHT", source="A1", discharged="2025-03-01"), _ref(2, "2025-04-01", "CMHT", source="A1")],
     [(1, "2025-01-20", "attended")],
     [("CMHT", "first_referral", "primary", None, True), ("CMHT", "re_referral", "secondary", 85, False)]),
    ("re-referral to the same service while the first is still open",
     [_ref(1, "2025-01-06", "CMHT", source="A1"), _ref(2, "2025-01-16", "CMHT", source="A1")], [],
     [("CMHT", "first_referral", "primary", None, False), ("CMHT", "re_referral", "secondary", 10, False)]),
    ("re-referral to the service that rejected: re_referral, not bounced_back",
     [_ref(1, "2025-01-06", "CMHT", source="A1", rejected_date="2025-01-10"),
      _ref(2, "2025-02-01", "CMHT", source="A1")], [],
     [("CMHT", "first_referral", "primary", None, False), ("CMHT", "re_referral", "secondary", 26, False)]),
    ("rejected, then a lower setting: bounced back",
     [_ref(1, "2025-01-06", "CMHT", source="A1", rejected_date="2025-01-10"),
      _ref(2, "2025-01-20", "SP", source="gp")], [],
     [("CMHT", "first_referral", "primary", None, False), ("SP", "bounced_back", "secondary", 14, False)]),
    ("rejected, then a lower setting the day of the rejection: bounced back",
     [_ref(1, "2025-01-06", "CMHT", source="A1", rejected_date="2025-01-10"),
      _ref(2, "2025-01-10", "TT", source="A1")], [],
     [("CMHT", "first_referral", "primary", None, False), ("TT", "bounced_back", "secondary", 4, False)]),
    ("a lower setting referred before the rejection: a step down, not bounced back",
     [_ref(1, "2025-01-06", "CMHT", source="A1", rejected_date="2025-01-25"),
      _ref(2, "2025-01-20", "SP", source="gp")], [],
     [("CMHT", "first_referral", "primary", None, False), ("SP", "step_down", "secondary", 14, False)]),
    ("declined without a date (revoked), then a lower setting: bounced back",
     [_ref(1, "2025-01-06", "TT", source="B1", status="revoked"), _gp(2, "2025-01-15", "MHP")],
     [],
     [("TT", "first_referral", "self", None, False), ("MHP", "bounced_back", "talking_therapies", 9, False)]),
    ("rejected, then a higher setting: a step up",
     [_ref(1, "2025-01-06", "SP", source="gp", rejected_date="2025-01-08"), _ref(2, "2025-01-15", "TT", source="B1")],
     [],
     [("SP", "first_referral", "primary", None, False), ("TT", "step_up", "vcse", 9, False)]),
    ("a GP referral never received is a step, never seen",
     [_gp(1, "2025-01-06", "CMHT"), _ref(2, "2025-02-05", "TT", source="A1")], [],
     [("CMHT", "first_referral", "primary", None, False), ("TT", "step_down", "secondary", 30, False)]),
    ("days are counted from the received date of a GP referral that was received",
     [_gp(1, "2025-01-01", "CMHT", received_on="2025-01-11"), _ref(2, "2025-01-31", "SP", source="cmht")],
     [(2, "2025-02-05", "attended")],
     [("CMHT", "first_referral", "primary", None, False), ("SP", "step_down", "secondary", 20, True)]),
    ("seen means attended: DNAs, late-not-seen and cancellations are not",
     [_ref(1, "2025-01-06", "CMHT", source="A1"), _ref(2, "2025-02-06", "TT", source="A1"),
      _ref(3, "2025-03-06", "SP", source="self"), _ref(4, "2025-04-06", "MHP", source="A1")],
     [(1, "2025-01-10", "did_not_attend"), (2, "2025-02-10", "cancelled_by_patient"),
      (2, "2025-02-12", "cancelled_by_provider"), (3, "2025-03-10", "attended"), (4, "2025-04-10", "did_not_attend")],
     [("CMHT", "first_referral", "primary", None, False), ("TT", "step_down", "secondary", 31, False),
      ("SP", "step_down", "talking_therapies", 28, True), ("MHP", "sideways", "vcse", 31, False)]),
]
IDS = {case[0]: f"j{i:02d}" for i, case in enumerate(CASES)}


def _records(pid: str, referrals: list[tuple], contacts: list[tuple]) -> dict:
    requests, episodes = [], []
    for kind, n, day, at, extra in referrals:
        extra = dict(extra)
        sid = f"{pid}-r{n}"
        discharged = extra.pop("discharged", None)
        received_on = extra.pop("received_on", None)
        if kind == "gp":
            requests.append(gp_referral(f"{sid}-gp" if received_on else sid, pid, day, at, **extra))
            if received_on:
                requests.append(received(sid, pid, received_on, at, based_on=f"{sid}-gp", source="A1"))
        else:
            requests.append(received(sid, pid, day, at, **extra))
        if discharged:
            episodes.append(episode(f"ep-{sid}", pid, sid, day, discharged))
    encounters = [contact(f"{pid}-c{i}", pid, f"{pid}-r{n}", day, at, attendance)
                  for i, (n, day, attendance) in enumerate(contacts)
                  for _, m, _, at, _ in referrals if m == n]
    return {"v_patient": [patient(pid)], "v_service_request": requests, "v_episode_of_care": episodes,
            "v_encounter": encounters}


def world() -> dict:
    return merge_views(_records(IDS[description], referrals, contacts) for description, referrals, contacts, _ in CASES)


@pytest.fixture(scope="module", params=BACKENDS)
def warehouse(request, warehouse_for):
    yield from built_warehouse(warehouse_for(request.param), world())


@pytest.fixture(scope="module")
def journeys(warehouse) -> dict[str, list[tuple]]:
    people = {key_of(p): p for p in IDS.values()}
    steps = rows(warehouse, """
        SELECT j.*, r.service_key FROM analytics.journey_step AS j
        JOIN analytics.referral AS r ON r.referral_key = j.referral_key
        ORDER BY j.person_key, j.step_no""")
    result: dict[str, list[tuple]] = {p: [] for p in IDS.values()}
    for s in steps:
        result[people[s["person_key"]]].append(
            (s["step_no"], s["service_key"], s["transition"], s["from_setting"], s["days_since_previous"], s["seen"]))
    return result


@pytest.mark.parametrize("description, referrals, contacts, expected", CASES, ids=[c[0] for c in CASES])
def test_transition_edges(journeys, description, referrals, contacts, expected):
    assert journeys[IDS[description]] == [(n, *step) for n, step in enumerate(expected, start=1)]


def test_journey_order_does_not_depend_on_the_pseudonymisation_key(warehouse_for, tmp_path):
    """Same-day referrals are ordered by what they are, not by their keys (which change with the key):
    many people with the same two same-day referrals all get the same order."""
    engine = make_engine(warehouse_for("duckdb", tmp_path))
    ensure_schemas(engine)
    people = [f"same{i}" for i in range(12)]
    build(engine, v_patient=[patient(p) for p in people],
          v_service_request=[r for p in people for r in (received(f"{p}-a", p, "2025-02-03", "CMHT", source="A1"),
                                                          received(f"{p}-b", p, "2025-02-03", "TT", source="B1"))])
    orders = {tuple(r["transition"] for r in rows(engine, f"""
        SELECT transition FROM analytics.journey_step WHERE person_key = '{key_of(p)}' ORDER BY step_no"""))
        for p in people}
    engine.dispose()
    assert orders == {("first_referral", "step_up")}
