"""Referral matching: UBRN first, else same person + receiving organisation + 0..14 days; nearest
wins; each record matches at most once."""

from __future__ import annotations

import datetime as dt

import pytest

from carebridge.core.ids import person_id_for_nhs_number, record_id
from fhir_mapping import map_resources

DAY0 = dt.date(2025, 1, 1)
P1, P2 = person_id_for_nhs_number("9434765919"), person_id_for_nhs_number("9990000018")


def _run(build, reference, gp, received, links=None):
    """gp: (referral_id, patient_id, day, target_ods, ubrn); received: (ServiceRequestId, LocalPatientId, day, ubrn)."""
    staged = {
        "gp.referral": build.staged_table("gp", "Z90001", [
            {"referral_id": rid, "patient_id": pid, "referral_date": DAY0 + dt.timedelta(days=day),
             "snomed_code": "24921000000109", "target_ods": target, "target_service": "A06", "ubrn": ubrn}
            for rid, pid, day, target, ubrn in gp]),
        "mhsds.MHS101Referral": build.staged_table("mhsds", "RZZ", [
            {"ServiceRequestId": sid, "LocalPatientId": pid, "SourceOfReferralMH": "A1",
             "ReferralRequestReceivedDate": DAY0 + dt.timedelta(days=day), "ServTeamTypeRefToMH": "A06", "ubrn": ubrn}
            for sid, pid, day, ubrn in received]),
    }
    links = links or [("gp", "Z90001", "G1", P1), ("mhsds", "RZZ", "M1", P1),
                      ("gp", "Z90001", "G2", P2), ("mhsds", "RZZ", "M2", P2)]
    index = build.person_index(links, [{"person_id": P1, "nhs_number": "9434765919", "nhs_number_verified": True},
                                       {"person_id": P2, "nhs_number": "9990000018", "nhs_number_verified": True}])
    return map_resources(staged, index, reference)


def _pairs(result) -> set[tuple[str, str, str]]:
    m = result.referral_matches
    return set(zip(m["gp_local_id"].to_pylist(), m["receiving_local_id"].to_pylist(), m["match_method"].to_pylist()))


@pytest.mark.parametrize("days, matched", [(0, True), (14, True), (15, False), (-1, False)])
def test_date_window_is_0_to_14_days(build, reference, days, matched):
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", None)], [("S1", "M1", days, None)])
    assert _pairs(result) == ({("R1", "S1", "date_window")} if matched else set())


def test_nearest_receiving_record_wins(build, reference):
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", None)], [("S5", "M1", 5, None), ("S3", "M1", 3, None)])
    assert _pairs(result) == {("R1", "S3", "date_window")}
    assert result.referral_matches["days_after"].to_pylist() == [3]


def test_each_record_matches_once_greedy_by_distance(build, reference):
    # Candidates: R1-S6 (6), R1-S7 (7), R2-S6 (1), R2-S7 (2). Nearest first: R2-S6, then R1-S7.
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", None), ("R2", "G1", 5, "RZZ", None)],
                  [("S6", "M1", 6, None), ("S7", "M1", 7, None)])
    assert _pairs(result) == {("R2", "S6", "date_window"), ("R1", "S7", "date_window")}


def test_one_receiving_record_two_gp_referrals(build, reference):
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", None), ("R2", "G1", 1, "RZZ", None)],
                  [("S1", "M1", 2, None)])
    assert _pairs(result) == {("R2", "S1", "date_window")}


def test_ubrn_match_beats_a_nearer_date_match(build, reference):
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", "U1")],
                  [("SU", "M1", 20, "U1"), ("SN", "M1", 2, None)])
    assert _pairs(result) == {("R1", "SU", "ubrn")}


def test_different_ubrns_never_match_on_dates(build, reference):
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", "U1")], [("S1", "M1", 2, "U2")])
    assert _pairs(result) == set()


def test_other_person_or_other_organisation_never_matches(build, reference):
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", None), ("R2", "G2", 0, "RZY", None)],
                  [("S1", "M2", 1, None), ("S2", "M2", 1, None)])
    assert _pairs(result) == set()


def test_ties_break_deterministically(build, reference):
    runs = [_pairs(_run(build, reference, [("R1", "G1", 0, "RZZ", None)],
                        [("SA", "M1", 4, None), ("SB", "M1", 4, None)])) for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0]) == 1
    expected = min(("SA", "SB"), key=lambda s: record_id("mhsds", "RZZ", "MHS101Referral", s))
    assert runs[0] == {("R1", expected, "date_window")}


def test_receiving_service_request_is_based_on_the_gp_request(build, reference):
    result = _run(build, reference, [("R1", "G1", 0, "RZZ", None)], [("S1", "M1", 3, None)])
    received = next(r for r in result.resources["ServiceRequest"]
                    if r["id"] == record_id("mhsds", "RZZ", "MHS101Referral", "S1"))
    assert received["basedOn"][0]["reference"] == f"ServiceRequest/{record_id('gp', 'Z90001', 'referral', 'R1')}"
    gp = next(r for r in result.resources["ServiceRequest"] if r["id"] == record_id("gp", "Z90001", "referral", "R1"))
    assert "basedOn" not in gp
