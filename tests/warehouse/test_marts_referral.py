"""analytics.referral, contact and journey_step: status, waits, GP referral matching, transitions."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (
    build, contact, episode, gp_referral, key_of, patient, received, rows,
)


def _referrals(engine) -> dict[tuple[str, str], dict]:
    """Referrals keyed by (person_id, service_key), for readable assertions."""
    people = {key_of(p): p for p in [f"p{i}" for i in range(1, 10)]}
    return {(people[r["person_key"]], r["service_key"]): r
            for r in rows(engine, "SELECT * FROM analytics.referral")}


def test_status_and_waits_count_only_attended_contacts(engine):
    build(
        engine,
        v_patient=[patient(f"p{i}") for i in range(1, 8)],
        v_service_request=[
            gp_referral("g1", "p1", "2025-01-01", "CMHT"),
            received("m1", "p1", "2025-01-05", "CMHT", based_on="g1", source="A1"),
            received("m2", "p2", "2025-01-10", "CMHT", source="B1", rejected_date="2025-01-12"),
            received("v3", "p3", "2025-01-10", "SP", source="self", status="revoked"),
            received("m4", "p4", "2025-01-01", "CMHT", source="A1"),
            received("t5", "p5", "2025-01-02", "TT", source="B1", status="completed"),
            gp_referral("g6", "p6", "2025-01-03", "MHP"),
            gp_referral("g7", "p7", "2025-02-01", "CMHT"),
        ],
        v_episode_of_care=[episode("ep4", "p4", "m4", "2025-01-01", "2025-03-01")],
        v_encounter=[
            contact("c0", "p1", "m1", "2025-01-03", "CMHT"),                      # before receipt: no wait
            contact("c1", "p1", "m1", "2025-01-10", "CMHT", "did_not_attend"),
            contact("c2", "p1", "m1", "2025-01-12", "CMHT", "cancelled_by_patient"),
            contact("c3", "p1", "m1", "2025-01-15", "CMHT", "cancelled_by_provider"),
            contact("c4", "p1", "m1", "2025-01-20", "CMHT"),
            contact("c5", "p1", "m1", "2025-02-01", "CMHT", mechanism="telephone"),
            contact("c6", "p5", "t5", "2025-01-05", "TT", app_type="01"),
            contact("c7", "p5", "t5", "2025-01-09", "TT", "did_not_attend", app_type="02"),
            contact("c8", "p5", "t5", "2025-01-12", "TT", app_type="02"),
            contact("c9", "p6", None, "2025-01-10", "MHP"),                       # practice appointment
        ],
    )
    ref = _referrals(engine)
    assert len(ref) == 7
    gp_cmht = ref[("p1", "CMHT")]
    assert gp_cmht["status"] == "open"
    assert (gp_cmht["referred_date"], gp_cmht["received_date"]) == (date(2025, 1, 1), date(2025, 1, 5))
    assert (gp_cmht["source_setting"], gp_cmht["source_code"], gp_cmht["referring_ods"]) == ("primary", "A1", "Z90001")
    assert gp_cmht["first_contact_date"] == date(2025, 1, 20)
    assert gp_cmht["second_contact_date"] == date(2025, 2, 1)
    assert gp_cmht["first_treatment_date"] == date(2025, 1, 20)
    assert (gp_cmht["wait_first_contact_days"], gp_cmht["wait_second_contact_days"]) == (15, 27)
    assert (gp_cmht["attended_contacts"], gp_cmht["dna_contacts"]) == (3, 1)

    assert ref[("p2", "CMHT")]["status"] == "rejected"
    assert ref[("p2", "CMHT")]["rejected_date"] == date(2025, 1, 12)
    assert ref[("p2", "CMHT")]["source_setting"] == "self"
    assert ref[("p3", "SP")]["status"] == "rejected"           # declined: revoked without a date
    assert ref[("p4", "CMHT")]["status"] == "closed"
    assert ref[("p4", "CMHT")]["discharge_date"] == date(2025, 3, 1)
    assert ref[("p4", "CMHT")]["first_contact_date"] is None

    tt = ref[("p5", "TT")]
    assert tt["status"] == "closed"
    assert tt["first_contact_date"] == date(2025, 1, 5)         # assessment
    assert tt["first_treatment_date"] == date(2025, 1, 12)      # first ATTENDED treatment appointment
    assert (tt["attended_contacts"], tt["dna_contacts"]) == (2, 1)

    internal = ref[("p6", "MHP")]                               # GP referral to its own practice's MHP
    assert internal["referred_date"] == internal["received_date"] == date(2025, 1, 3)
    assert internal["first_contact_date"] == date(2025, 1, 10)  # appointment attached by service and date
    assert internal["wait_first_contact_days"] == 7


def test_gp_referral_is_merged_when_received_and_kept_as_not_received_otherwise(engine):
    build(
        engine,
        v_patient=[patient("p1"), patient("p2")],
        v_service_request=[
            gp_referral("g1", "p1", "2025-01-01", "TT"),
            received("t1", "p1", "2025-01-09", "TT", based_on="g1", source="A1"),
            gp_referral("g2", "p2", "2025-02-01", "CMHT", reason_code="35489007"),
        ],
        v_encounter=[contact("c1", "p1", "g1", "2025-01-20", "TT", app_type="02")],   # basedOn the GP record
    )
    ref = _referrals(engine)
    assert set(ref) == {("p1", "TT"), ("p2", "CMHT")}
    assert ref[("p1", "TT")]["status"] == "open"
    assert ref[("p1", "TT")]["referred_date"] == date(2025, 1, 1)
    assert ref[("p1", "TT")]["attended_contacts"] == 1
    lost = ref[("p2", "CMHT")]
    assert lost["status"] == "not_received"
    assert (lost["referred_date"], lost["received_date"]) == (date(2025, 2, 1), None)
    assert (lost["source_setting"], lost["referring_ods"], lost["reason_code"]) == ("primary", "Z90001", "35489007")
    contact_row = rows(engine, "SELECT referral_key FROM analytics.contact")[0]
    assert contact_row["referral_key"] == ref[("p1", "TT")]["referral_key"]


def test_contact_without_a_referral_has_null_referral_key(engine):
    build(engine, v_patient=[patient("p1")],
          v_encounter=[contact("c1", "p1", None, "2025-01-10", "MHP", mechanism="video")])
    (row,) = rows(engine, "SELECT * FROM analytics.contact")
    assert row["referral_key"] is None
    assert (row["service_key"], row["mechanism"]) == ("MHP", "video")
    assert (row["attended"], row["did_not_attend"]) == (True, False)
    assert row["duration_minutes"] == 30


def test_every_transition_kind(engine):
    build(
        engine,
        v_patient=[patient("p8"), patient("p9")],
        v_service_request=[
            gp_referral("g1", "p8", "2025-01-01", "CMHT"),
            received("s1", "p8", "2025-01-03", "CMHT", based_on="g1", source="A1", rejected_date="2025-01-10"),
            gp_referral("s2", "p8", "2025-01-20", "MHP"),
            received("s3", "p8", "2025-02-01", "TT", source="B1"),
            received("s4", "p8", "2025-03-01", "TT", source="B1"),
            received("s5", "p8", "2025-04-01", "CMHT", source="N1"),
            received("s6", "p8", "2025-05-01", "SP", source="cmht"),
            gp_referral("s7", "p8", "2025-06-01", "MHP"),
            received("s8", "p9", "2025-01-01", "TT", source="B1", status="revoked"),
            received("s9", "p9", "2025-02-01", "CMHT", source="N1"),
            received("s10", "p9", "2025-03-01", "EIP", source="P1", rejected_date="2025-03-02"),
            received("s11", "p9", "2025-03-10", "CRISIS", source="P1"),
        ],
        v_encounter=[contact("c1", "p8", None, "2025-01-25", "MHP"), contact("c2", "p8", "s5", "2025-04-05", "CMHT")],
    )
    steps = rows(engine, "SELECT * FROM analytics.journey_step ORDER BY person_key, step_no")
    p8 = [s for s in steps if s["person_key"] == key_of("p8")]
    assert [(s["step_no"], s["from_setting"], s["to_setting"], s["transition"]) for s in p8] == [
        (1, "primary", "secondary", "first_referral"),
        (2, "secondary", "primary", "bounced_back"),
        (3, "primary", "talking_therapies", "step_up"),
        (4, "talking_therapies", "talking_therapies", "re_referral"),
        (5, "talking_therapies", "secondary", "step_up"),
        (6, "secondary", "vcse", "step_down"),
        (7, "vcse", "primary", "sideways"),
    ]
    assert [s["days_since_previous"] for s in p8] == [None, 17, 12, 28, 31, 30, 31]
    assert [s["seen"] for s in p8] == [False, True, False, False, True, False, False]
    p9 = [s["transition"] for s in steps if s["person_key"] == key_of("p9")]
    # rejected then a higher rank is a step up; rejected then the same rank is bounced back
    assert p9 == ["first_referral", "step_up", "sideways", "bounced_back"]


def test_journey_orders_not_received_referrals_by_the_gp_date(engine):
    build(
        engine,
        v_patient=[patient("p1")],
        v_service_request=[
            received("t1", "p1", "2025-01-10", "TT", source="B1"),
            gp_referral("g1", "p1", "2025-01-05", "CMHT"),          # never received, before the TT referral
        ],
    )
    steps = rows(engine, "SELECT to_setting, transition FROM analytics.journey_step ORDER BY step_no")
    assert steps == [{"to_setting": "secondary", "transition": "first_referral"},
                     {"to_setting": "talking_therapies", "transition": "step_down"}]
