"""EpisodeOfCare per accepted referral of a receiving service (MHSDS, Talking Therapies, VCSE)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fhir_mapping.elements import coding, concept, iso, local_identifier, meta, org_ref, patient_ref, prune, record_ref
from fhir_mapping.service_request import service_type_display

__all__ = ["map_episodes_of_care"]


def episode_of_care(row: dict[str, Any]) -> dict[str, Any]:
    """Shares the referral's id (resource ids are unique per type): the span of care the referral opened."""
    src, ods = row["source"], row["provider_ods"]
    finished = row["end_date"] is not None or row["status"] == "completed"
    return prune({
        "resourceType": "EpisodeOfCare",
        "id": row["id"],
        "meta": meta("EpisodeOfCare", src, ods),
        "identifier": [local_identifier(src, ods, row["table_name"], row["local_id"])],
        "status": "finished" if finished else "active",
        "type": [concept(coding("service_type", row["service_code"], service_type_display(row["service_code"])))],
        "patient": patient_ref(row["person_id"], row["nhs_number"]),
        "managingOrganization": org_ref(ods),
        "period": {"start": iso(row["received_date"]), "end": iso(row["end_date"])},
        "referralRequest": [record_ref("ServiceRequest", row["id"], src, ods, row["table_name"], row["local_id"])],
    })


def map_episodes_of_care(referrals: pa.Table) -> list[dict[str, Any]]:
    return [episode_of_care(row) for row in referrals.filter(pc.equal(referrals["episode"], True)).to_pylist()]
