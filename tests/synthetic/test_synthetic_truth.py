"""The ground truth hangs together: ids resolve, journeys and groups are all represented, and GP
referral matching (outputs.md) has exactly one answer."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from carebridge.core.reference import codes
from carebridge.synthetic.transitions import TRANSITIONS


def _rows(generated, truth_table, name):
    return truth_table(generated.truth, name)


def test_every_record_points_at_something_that_exists(clean, truth_table):
    persons = {p["person_id"] for p in _rows(clean, truth_table, "persons")}
    referrals = {(r["source"], r["provider_ods"], r["local_id"]) for r in _rows(clean, truth_table, "referrals")}
    for name in ("records", "referrals", "contacts", "care_plans", "scores"):
        assert {r["person_id"] for r in _rows(clean, truth_table, name)} <= persons, name
    for name in ("contacts", "scores", "care_plans"):
        rows = _rows(clean, truth_table, name)
        linked = [r for r in rows if r["referral_local_id"]]
        assert all((r["source"], r["provider_ods"], r["referral_local_id"]) in referrals for r in linked), name
        assert all(r["source"] == "gp" for r in rows if not r["referral_local_id"]), name
    records = {(r["source"], r["provider_ods"], r["person_id"]) for r in _rows(clean, truth_table, "records")}
    for r in _rows(clean, truth_table, "referrals"):
        assert (r["source"], r["provider_ods"], r["person_id"]) in records


def test_every_journey_kind_ethnic_category_and_deprivation_decile_appears(clean, truth_table):
    referrals = _rows(clean, truth_table, "referrals")
    persons = _rows(clean, truth_table, "persons")
    assert {r["transition"] for r in referrals} == set(TRANSITIONS)
    assert {r["status"] for r in referrals} == {"open", "closed", "rejected", "not_received"}
    assert {p["ethnic_category"] for p in persons} == set(codes()["ethnic_category"])
    assert {p["imd_decile"] for p in persons} == {str(d) for d in range(1, 11)}
    assert {p["sex"] for p in persons} >= {"M", "F"}
    services = {(r["source"], r["service_code"]) for r in referrals}
    expected = {("mhsds", t) for t in ("A02", "A05", "A06", "A14", "A19")}
    expected |= {("talking_therapies", "TT"), ("vcse", "SP")}
    assert expected <= services
    type1 = sum(p["type1_objection"] == "true" for p in persons) / len(persons)
    assert 0.005 < type1 < 0.04


def _day(text: str) -> date:
    return date.fromisoformat(text)


def test_gp_referral_matching_has_exactly_one_answer(clean, truth_table):
    referrals = _rows(clean, truth_table, "referrals")
    held = defaultdict(list)
    for r in referrals:
        if r["status"] != "not_received":
            held[(r["person_id"], r["provider_ods"])].append(r)
    gp = [r for r in referrals if r["gp_referral_id"]]
    assert gp
    for r in gp:
        candidates = [h for h in held[(r["person_id"], r["target_ods"])]
                      if 0 <= (_day(h["received_date"]) - _day(r["referred_date"])).days <= 14]
        mine = [] if r["status"] == "not_received" else [r]
        assert candidates == mine, r["gp_referral_id"]


def test_no_person_has_two_referrals_on_one_day(clean, truth_table):
    days = [(r["person_id"], r["received_date"] or r["referred_date"]) for r in _rows(clean, truth_table, "referrals")]
    assert len(days) == len(set(days))


def test_status_seen_and_dates_agree(clean, truth_table):
    attended = {(c["source"], c["provider_ods"], c["referral_local_id"])
                for c in _rows(clean, truth_table, "contacts") if c["attendance"] == "attended"}
    for r in _rows(clean, truth_table, "referrals"):
        assert (r["seen"] == "true") == ((r["source"], r["provider_ods"], r["local_id"]) in attended)
        if r["status"] == "not_received":
            assert r["source"] == "gp" and not r["received_date"] and r["gp_referral_id"] == r["local_id"]
            continue
        assert (r["status"] == "rejected") == bool(r["rejected_date"])
        assert (r["status"] == "closed") == bool(r["discharge_date"])
        if r["discharge_date"]:
            assert r["discharge_date"] >= r["received_date"]
        if r["referred_date"]:
            assert r["referred_date"] <= r["received_date"]


def test_talking_therapies_scores_are_paired_and_move_every_way(clean, truth_table):
    by_referral = defaultdict(list)
    for s in _rows(clean, truth_table, "scores"):
        if s["source"] == "talking_therapies" and s["measure"] == "PHQ9":
            by_referral[s["referral_local_id"]].append((s["date"], int(s["value"])))
    changes = [sorted(v)[-1][1] - sorted(v)[0][1] for v in by_referral.values() if len(v) > 1]
    assert min(changes) <= -6 and max(changes) >= 6 and 0 in changes
    assert all(0 <= int(s["value"]) <= 27 for s in _rows(clean, truth_table, "scores") if s["measure"] == "PHQ9")


def test_care_plans_include_crisis_plans_and_vcse_goals(clean, truth_table):
    plans = _rows(clean, truth_table, "care_plans")
    assert any(p["is_crisis_plan"] == "true" and p["plan_type"] == "12" for p in plans)
    assert any(p["source"] == "vcse" and p["goal_count"] == "1" for p in plans)
    assert any(p["source"] == "gp" for p in plans)


def test_generation_is_fast(clean):
    assert clean.seconds < 20


# Where each referral table sends the truth's source_code and reason (synthetic/data/extracts.yaml).
_SOURCE_AND_REASON = {"MHS101Referral": ("ServiceRequestId", "SourceOfReferralMH", "PrimReasonReferralMH"),
                      "IDS101Referral": ("ServiceRequestId", "SourceOfReferralIAPT", "PresentingComplaint"),
                      "referral": ("referral_id", "referrer_type", "need_domains")}


def test_referral_source_and_reason_and_care_plan_referral_are_what_the_extracts_say(clean, truth_table, landed):
    sent, plans = {}, {}
    for f in landed(clean.landing):
        if f.source != "gp" and f.table in _SOURCE_AND_REASON:
            key, source_code, reason = (f.columns.index(c) for c in _SOURCE_AND_REASON[f.table])
            sent.update({(f.source, f.provider, r[key]): (r[source_code], r[reason]) for r in f.rows})
        if f.source == "vcse" and f.table == "plan":
            plan, referral = f.columns.index("plan_id"), f.columns.index("referral_id")
            plans.update({(f.provider, r[plan]): r[referral] for r in f.rows})
    referrals = truth_table(clean.truth, "referrals")
    received = [r for r in referrals if r["status"] != "not_received"]
    assert received and all(sent[(r["source"], r["provider_ods"], r["local_id"])] == (r["source_code"], r["reason"])
                            for r in received)
    assert all(r["source_code"] == r["reason"] == "" for r in referrals if r["status"] == "not_received")
    care_plans = truth_table(clean.truth, "care_plans")
    vcse = [p for p in care_plans if p["source"] == "vcse"]
    assert vcse and all(plans[(p["provider_ods"], p["local_id"])] == p["referral_local_id"] for p in vcse)
    assert all(p["referral_local_id"].startswith("SR") for p in care_plans if p["source"] == "mhsds")
    assert all(p["referral_local_id"] == "" for p in care_plans if p["source"] == "gp")
