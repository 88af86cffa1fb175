"""q02 on the pick-up the synthetic data and real practices record: after a CMHT rejection the practice
mental health practitioner sees the person in a GP appointment - no referral is written (TRUTH.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # shared helpers beside this file (pytest runs in importlib mode)
from test_marts_support import (
    build, contact, gp_referral, patient, received,
)
from warehouse.questions import ask


def _rejected_cmht(pid: str, gp_date: str, received_date: str, rejected: str) -> list[dict]:
    return [gp_referral(f"g-{pid}", pid, gp_date, "CMHT"),
            received(f"m-{pid}", pid, received_date, "CMHT", based_on=f"g-{pid}", source="A1", rejected_date=rejected)]


def test_practice_mhp_appointments_after_a_rejection_count_as_primary_care_pick_up(engine):
    build(engine,
          v_patient=[patient("pb"), patient("pc"), patient("pd")],
          v_service_request=[*_rejected_cmht("pb", "2025-01-05", "2025-01-08", "2025-01-15"),
                             *_rejected_cmht("pc", "2025-01-10", "2025-01-14", "2025-01-20"),
                             gp_referral("g-pc2", "pc", "2025-01-28", "SP"),
                             received("v-pc2", "pc", "2025-02-01", "SP", based_on="g-pc2", source="gp"),
                             *_rejected_cmht("pd", "2025-01-02", "2025-01-04", "2025-01-10")],
          v_encounter=[contact("b1", "pb", None, "2025-01-28", "MHP"),             # seen by the practice MHP
                       contact("c1", "pc", "v-pc2", "2025-02-05", "SP"),
                       contact("c2", "pc", None, "2025-02-10", "MHP"),              # after the VCSE referral
                       contact("d1", "pd", None, "2025-01-20", "MHP", "did_not_attend")])
    answer = {r["pathway"]: r for r in ask(engine, "q02").to_pylist()}
    assert set(answer) == {"3b rejected, then primary care mental health", "3c rejected, then VCSE"}
    mhp = answer["3b rejected, then primary care mental health"]
    assert (mhp["referrals"], mhp["people"], mhp["next_seen"]) == (2, 2, 1)   # pd did not attend
    vcse = answer["3c rejected, then VCSE"]
    assert (vcse["referrals"], vcse["next_seen"]) == (1, 1)
