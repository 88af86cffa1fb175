"""ServiceRequest.status of each source's referral: revoked only for a rejection or a VCSE decline."""

from __future__ import annotations

import datetime as dt

import pytest

from fhir_mapping.referrals import referral_status

END = dt.date(2025, 6, 1)


@pytest.mark.parametrize("end_code", ["10", "12", "46", "47"])
def test_talking_therapies_referral_ending_before_or_after_treatment_is_completed(end_code):
    # IDS101 has no rejection: a referral discharged untreated (not suitable, declined) was still received
    assert referral_status("talking_therapies", end_code, END, None) == "completed"


@pytest.mark.parametrize(("source", "status_code", "end", "rejected", "expected"), [
    ("talking_therapies", None, None, None, "active"),
    ("mhsds", None, None, END, "revoked"),
    ("mhsds", None, END, None, "completed"),
    ("vcse", "declined", END, None, "revoked"),
    ("vcse", "closed", END, None, "completed"),
    ("vcse", "accepted", None, None, "active"),
])
def test_status_by_source(source, status_code, end, rejected, expected):
    assert referral_status(source, status_code, end, rejected) == expected


def test_declined_vcse_referral_carries_its_decline_date_as_the_rejection_date(build, reference):
    from fhir_mapping import map_resources

    staged = build.scenario_staged()
    staged["vcse.referral"] = build.staged_table("vcse", "8ZZ01", [
        {"referral_id": "VR1", "person_id": "V1", "referral_date": dt.date(2025, 3, 1), "referrer_type": "gp",
         "referrer_ods": "Z90001", "need_domains": "isolation", "status": "declined",
         "closed_date": dt.date(2025, 3, 9)}])
    result = map_resources(staged, build.scenario_index(), reference)
    sr = build.by_local_id(result, "ServiceRequest", "VR1")
    assert sr["status"] == "revoked"
    assert {"url": "https://fhir.carebridge.org.uk/StructureDefinition/referral-rejection-date",
            "valueDate": "2025-03-09"} in sr["extension"]
    assert sr["id"] not in {e["id"] for e in result.resources.get("EpisodeOfCare", [])}
