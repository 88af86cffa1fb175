"""CarePlan per MHSDS MHS008 care plan, GP care plan code and VCSE plan; a Goal per VCSE plan goal."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from carebridge.core.reference import codes
from fhir_mapping.context import MappingContext, with_record_ids
from fhir_mapping.elements import (coding, concept, ext, iso, local_identifier, meta, org_ref, patient_ref, prune,
                                   record_ref)
from fhir_mapping.terminology import code_maps

__all__ = ["map_care_plans", "is_crisis_plan"]

_PLANS_SQL = """
SELECT 'mhsds' AS source, 'MHS008CarePlanType' AS table_name, p.provider_ods, p.CarePlanID AS local_id,
       p.CarePlanTypeMH AS plan_code, p.CarePlanCreatDate AS created_date, p.CarePlanLastUpdateDate AS last_updated,
       p.CarePlanImplementationDate AS start_date, NULL AS status_code, NULL AS goal_text,
       s.person_id, s.nhs_number, NULL AS referral_id, NULL AS referral_table, NULL AS referral_local_id,
       p.source_file, p.source_line,
       CASE WHEN s.person_id IS NULL THEN 'person_not_linked' END AS reason
FROM mhsds_MHS008CarePlanType p
LEFT JOIN subjects s ON s.source = 'mhsds' AND s.provider_ods = p.provider_ods AND s.local_patient_id = p.LocalPatientId
UNION ALL
SELECT 'vcse', 'plan', p.provider_ods, p.plan_id, p.domain, p.created_date, NULL, p.created_date, p.status,
       p.goal_text, r.person_id, r.nhs_number, r.id, r.table_name, r.local_id, p.source_file, p.source_line,
       CASE WHEN vr.referral_id IS NULL THEN 'referral_not_found'
            WHEN r.id IS NULL THEN 'person_not_linked' END
FROM vcse_plan p
LEFT JOIN vcse_referral vr ON vr.provider_ods = p.provider_ods AND vr.referral_id = p.referral_id
LEFT JOIN referrals r ON r.source = 'vcse' AND r.provider_ods = p.provider_ods AND r.local_id = p.referral_id
ORDER BY 1, 3, 4
"""

# Per source: the code system of the plan type.
_PLAN_TYPE_SYSTEM = {"mhsds": "mhsds_care_plan_type", "gp": "snomed", "vcse": "vcse_need_domain"}


def is_crisis_plan(source: str, plan_code: str | None) -> bool:
    """MHSDS CarePlanTypeMH 12, or a GP code flagged `crisis` in codes.yaml."""
    if source == "mhsds":
        return plan_code in codes()["care_plan_type_mh"]["crisis"]
    if source == "gp":
        return bool((codes()["gp_snomed"].get(plan_code) or {}).get("crisis"))
    return False


def _status(row: dict[str, Any]) -> str:
    if row["source"] == "vcse":
        return codes()["vcse_plan_status"].get(row["status_code"], code_maps()["care_plan_default_status"])
    return code_maps()["care_plan_default_status"]


def _plan_type(row: dict[str, Any]) -> dict[str, Any] | None:
    display = (codes()["gp_snomed"].get(row["plan_code"]) or {}).get("name") if row["source"] == "gp" else None
    return concept(coding(_PLAN_TYPE_SYSTEM[row["source"]], row["plan_code"], display))


def _referral_ref(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row["referral_id"]:
        return None
    return record_ref("ServiceRequest", row["referral_id"], row["source"], row["provider_ods"],
                      row["referral_table"], row["referral_local_id"])


def _has_goal(row: dict[str, Any]) -> bool:
    return row["source"] == "vcse" and bool(row["goal_text"])


def care_plan(row: dict[str, Any]) -> dict[str, Any]:
    src, ods = row["source"], row["provider_ods"]
    kind = "crisis" if is_crisis_plan(src, row["plan_code"]) else "care"
    goal = (record_ref("Goal", row["id"], src, ods, row["table_name"], row["local_id"]) if _has_goal(row) else None)
    return prune({
        "resourceType": "CarePlan",
        "id": row["id"],
        "meta": meta("CarePlan", src, ods),
        "extension": [ext("care_plan_last_updated", valueDate=iso(row["last_updated"])),
                      ext("goal_count", valueInteger=1 if goal else 0)],
        "identifier": [local_identifier(src, ods, row["table_name"], row["local_id"])],
        "status": _status(row),
        "intent": "plan",
        "category": [_plan_type(row), concept(coding("care_plan_kind", kind))],
        "subject": patient_ref(row["person_id"], row["nhs_number"]),
        "period": {"start": iso(row["start_date"])},
        "created": iso(row["created_date"]),
        "author": org_ref(ods),
        # R4 CarePlan.basedOn may only point at a CarePlan: the referral rides in supportingInfo.
        "supportingInfo": [_referral_ref(row)],
        "goal": [goal],
    })


def goal(row: dict[str, Any]) -> dict[str, Any]:
    """The VCSE plan's goal; shares the plan's id (ids are unique per resource type)."""
    src, ods = row["source"], row["provider_ods"]
    status = row["status_code"]
    return prune({
        "resourceType": "Goal",
        "id": row["id"],
        "meta": meta("Goal", src, ods),
        "identifier": [local_identifier(src, ods, row["table_name"], row["local_id"])],
        "lifecycleStatus": code_maps()["goal_lifecycle"].get(status, "active"),
        "achievementStatus": concept(coding("goal_achievement", "achieved")) if status == "achieved" else None,
        "category": [concept(coding("vcse_need_domain", row["plan_code"]))],
        "description": {"text": row["goal_text"]},
        "subject": patient_ref(row["person_id"], row["nhs_number"]),
        "startDate": iso(row["created_date"]),
    })


def _gp_plan_rows(events: pa.Table) -> list[dict[str, Any]]:
    """GP care plan codes in the shape of the other care plan rows."""
    return [{**e, "plan_code": e["snomed_code"], "created_date": e["event_date"], "start_date": e["event_date"],
             "last_updated": None, "status_code": None, "goal_text": None, "referral_id": None}
            for e in events.to_pylist()]


def map_care_plans(ctx: MappingContext, gp_events: pa.Table) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(CarePlans, Goals)."""
    plans = with_record_ids(ctx.keep_mapped(ctx.sql(_PLANS_SQL), "local_id"))
    rows = plans.to_pylist() + _gp_plan_rows(gp_events)
    return [care_plan(r) for r in rows], [goal(r) for r in rows if _has_goal(r)]
