"""care_plan mart: which service an MHSDS care plan (which names no referral) belongs to."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (
    build, contact, key_of, patient, received, table,
)


def _plan(cid: str, created: str) -> dict:
    return {"care_plan_id": cid, "patient_id": "p1", "record_source": "mhsds", "provider_ods": "RZZ",
            "plan_type": "10", "is_crisis_plan": False, "created_date": created}


def test_plan_goes_to_the_team_that_met_the_person_that_day_not_the_latest_referral(engine):
    # CMHT referral, then a crisis team referral received meanwhile; the plan is agreed at a CMHT contact
    build(engine,
          v_patient=[patient("p1")],
          v_service_request=[received("cmht", "p1", "2025-09-09", "CMHT", source="A1"),
                             received("crisis", "p1", "2025-10-17", "CRISIS", source="J1")],
          v_encounter=[contact("c1", "p1", "crisis", "2025-10-18", "CRISIS"),
                       contact("c2", "p1", "cmht", "2025-11-01", "CMHT"),
                       contact("c3", "p1", "crisis", "2025-11-02", "CRISIS")],
          v_care_plan=[_plan("at-cmht-contact", "2025-11-01"), _plan("no-contact-that-day", "2025-11-05")])
    plans = {r["care_plan_key"]: r["service_key"] for r in table(engine, "analytics", "care_plan")}
    assert len(plans) == 2 and set(plans.values()) == {"CMHT", "CRISIS"}
    by_date = {str(r["created_date"]): r["service_key"] for r in table(engine, "analytics", "care_plan")}
    assert by_date == {"2025-11-01": "CMHT", "2025-11-05": "CRISIS"}   # else: the latest referral received
    assert {r["person_key"] for r in table(engine, "analytics", "care_plan")} == {key_of("p1")}
