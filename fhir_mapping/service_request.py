"""ServiceRequest per referral of all four referral tables (outputs.md A)."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from carebridge.core.reference import codes
from fhir_mapping.elements import (coding, concept, ext, iso, local_identifier, meta, org_ref, patient_ref,
                                   prune, record_ref, service_ref)
from fhir_mapping.terminology import system

__all__ = ["map_service_requests", "service_type_display", "reason_codings"]

_SNOMED_ID = re.compile(r"^\d{6,18}$")

# Per source: (code list of codes.yaml for the source of referral, its code system name).
_REFERRAL_SOURCE = {
    "mhsds": ("source_of_referral", "mhsds_source_of_referral"),
    "talking_therapies": ("source_of_referral_iapt", "iapt_source_of_referral"),
    "vcse": ("vcse_referrer_type", "vcse_referrer_type"),
}
_PRIORITY = {"gp": "gp_priority", "mhsds": "mhsds_priority"}


def _name(entry: Any) -> str | None:
    """The display name of a code-list entry (entries are a name, or a dict with `name`)."""
    if isinstance(entry, dict):
        return entry.get("name")
    return entry if isinstance(entry, str) else None


def service_type_display(code: str | None) -> str | None:
    return _name(codes()["team_type"].get(code)) if code else None


def reason_codings(source: str, reason_codes: str | None) -> list[dict[str, Any] | None]:
    """reasonCode: MHSDS primary reason, Talking Therapies presenting complaint (SNOMED or ICD-10),
    VCSE need domains (a semicolon list, one CodeableConcept each)."""
    if not reason_codes:
        return []
    if source == "mhsds":
        return [concept(coding("mhsds_primary_reason", reason_codes, _name(codes()["primary_reason_mh"].get(reason_codes))))]
    if source == "talking_therapies":
        kind = "snomed" if _SNOMED_ID.match(reason_codes) else "icd10"
        return [concept(coding(kind, reason_codes))]
    if source == "vcse":
        return [concept(coding("vcse_need_domain", d.strip())) for d in reason_codes.split(";") if d.strip()]
    return []


def _code(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["source"] == "gp":
        return concept(coding("snomed", row["snomed_code"], _name(codes()["gp_snomed"].get(row["snomed_code"]))))
    return concept(coding("service_type", row["service_code"], service_type_display(row["service_code"])))


def _referral_source(row: dict[str, Any]) -> dict[str, Any] | None:
    spec = _REFERRAL_SOURCE.get(row["source"])
    code = row["referral_source_code"]
    if spec is None or not code:
        return None
    code_list, system_name = spec
    # UK Core's extension, its preferred SNOMED CT binding met where it can be: the national source
    # of referral code is kept in carebridge's code system of that data set.
    return ext("source_of_referral", valueCodeableConcept=concept(
        coding(system_name, code, _name(codes()[code_list].get(code)))))


def _priority(row: dict[str, Any]) -> str | None:
    code_list = _PRIORITY.get(row["source"])
    return codes()[code_list].get(row["priority_code"]) if code_list and row["priority_code"] else None


def _performer(row: dict[str, Any]) -> dict[str, Any] | None:
    return service_ref(row["service_ods"], row["service_code"]) or org_ref(row["service_ods"])


def _ubrn(value: str | None) -> dict[str, Any] | None:
    return {"use": "official", "system": system("ubrn"), "value": value} if value else None


def service_request(row: dict[str, Any], based_on: dict[str, Any] | None) -> dict[str, Any]:
    src, ods = row["source"], row["provider_ods"]
    return prune({
        "resourceType": "ServiceRequest",
        "id": row["id"],
        "meta": meta("ServiceRequest", src, ods),
        "extension": [_referral_source(row),
                      ext("rejection_date", valueDate=iso(row["rejected_date"])),
                      ext("rejection_reason", valueCode=row["rejection_reason"])],
        "identifier": [local_identifier(src, ods, row["table_name"], row["local_id"]), _ubrn(row["ubrn"])],
        "basedOn": [based_on],
        "status": row["status"],
        "intent": "order",
        "category": [concept(coding("setting", row["setting"]))],
        "priority": _priority(row),
        "code": _code(row),
        "subject": patient_ref(row["person_id"], row["nhs_number"]),
        "authoredOn": iso(row["received_date"]),
        "requester": org_ref(row["requester_ods"]),
        "performer": [_performer(row)],
        "reasonCode": reason_codings(src, row["reason_codes"]),
    })


def _based_on(matches: pa.Table) -> dict[str, dict[str, Any]]:
    """receiving ServiceRequest id -> reference to the GP's ServiceRequest."""
    return {m["receiving_id"]: record_ref("ServiceRequest", m["gp_referral_id"], "gp", m["gp_provider_ods"],
                                          "referral", m["gp_local_id"])
            for m in matches.to_pylist()}


def map_service_requests(referrals: pa.Table, matches: pa.Table) -> list[dict[str, Any]]:
    based_on = _based_on(matches)
    return [service_request(row, based_on.get(row["id"])) for row in referrals.to_pylist()]
