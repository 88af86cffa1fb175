"""Patient per person of the person index, with every local patient id the person is known by."""

from __future__ import annotations

from typing import Any

from carebridge.core.reference import codes
from fhir_mapping.context import MappingContext
from fhir_mapping.elements import coding, concept, ext, iso, local_identifier, meta, org_ref, prune
from fhir_mapping.terminology import code_maps, system

__all__ = ["map_patients"]

_PERSONS_SQL = """
SELECT p.*, l.local_ids
FROM persons p
LEFT JOIN (
    SELECT person_id, list(struct_pack(source, provider_ods, local_patient_id)
                           ORDER BY source, provider_ods, local_patient_id) AS local_ids
    FROM (SELECT DISTINCT source, provider_ods, local_patient_id, person_id FROM links) GROUP BY person_id
) l USING (person_id)
ORDER BY p.person_id
"""


def _nhs_identifier(nhs_number: str | None, verified: bool | None) -> dict[str, Any] | None:
    """Present only for a number that was valid in the index, with verification status 01."""
    if not nhs_number or not verified:
        return None
    status = code_maps()["nhs_number_verified"]
    return {"system": system("nhs_number"), "value": nhs_number,
            "extension": [ext("nhs_number_verification", valueCodeableConcept=concept(
                coding("nhs_number_verification", status["code"], status["display"])))]}


def _ethnic_category(code: str | None) -> dict[str, Any] | None:
    if not code:
        return None
    name = (codes()["ethnic_category"].get(code) or {}).get("name")
    return ext("ethnic_category", valueCodeableConcept=concept(coding("ethnic_category", code, name)))


def _name(given: str | None, family: str | None) -> dict[str, Any] | None:
    if not given and not family:
        return None
    return {"use": "official", "family": family, "given": [given] if given else None}


def patient(row: dict[str, Any]) -> dict[str, Any]:
    local_ids = [local_identifier(i["source"], i["provider_ods"], "patient", i["local_patient_id"])
                 for i in row["local_ids"] or []]
    return prune({
        "resourceType": "Patient",
        "id": row["person_id"],
        "meta": meta("Patient", "index", "person"),
        "extension": [_ethnic_category(row["ethnic_category"])],
        "identifier": [_nhs_identifier(row["nhs_number"], row["nhs_number_verified"]), *local_ids],
        "name": [_name(row["given_name"], row["family_name"])],
        "gender": row["gender"],
        "birthDate": iso(row["birth_date"]),
        "deceasedDateTime": iso(row["death_date"]),
        "address": [{"postalCode": row["postcode"],
                     "extension": [ext("lsoa_code", valueString=row["lsoa_code"])]}],
        "generalPractitioner": [org_ref(row["gp_practice_ods"])],
    })


def map_patients(ctx: MappingContext) -> list[dict[str, Any]]:
    persons = ctx.sql(_PERSONS_SQL)
    ctx.use_organisations(persons["gp_practice_ods"].to_pylist())
    ctx.use_organisations(i["provider_ods"] for ids in persons["local_ids"].to_pylist() for i in ids or [])
    return [patient(row) for row in persons.to_pylist()]
