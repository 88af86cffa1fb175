"""Condition per GP diagnosis or SMI register code (an addition to outputs.md: UK Core Condition)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from carebridge.core.reference import codes
from fhir_mapping.elements import coding, concept, iso, local_identifier, meta, patient_ref, prune

__all__ = ["map_conditions"]


def condition(row: dict[str, Any]) -> dict[str, Any]:
    src, ods = row["source"], row["provider_ods"]
    name = (codes()["gp_snomed"].get(row["snomed_code"]) or {}).get("name")
    return prune({
        "resourceType": "Condition",
        "id": row["id"],
        "meta": meta("Condition", src, ods),
        "identifier": [local_identifier(src, ods, row["table_name"], row["local_id"])],
        "clinicalStatus": concept(coding("condition_clinical", "active")),
        "verificationStatus": concept(coding("condition_verification", "confirmed")),
        "category": [concept(coding("condition_category", "problem-list-item"))],
        "code": concept(coding("snomed", row["snomed_code"], name)),
        "subject": patient_ref(row["person_id"], row["nhs_number"]),
        "recordedDate": iso(row["event_date"]),
    })


def map_conditions(gp_events: pa.Table) -> list[dict[str, Any]]:
    return [condition(row) for row in gp_events.to_pylist()]
