"""Encounter per care contact: MHSDS MHS201, Talking Therapies IDS201, GP appointments with a mental
health or social prescribing staff role, VCSE contacts (outputs.md A)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from carebridge.core.reference import codes
from fhir_mapping.context import MappingContext, with_record_ids
from fhir_mapping.elements import (coding, concept, ext, iso, local_identifier, meta, org_ref, patient_ref, prune,
                                   record_ref, service_ref, shared)
from fhir_mapping.service_request import service_type_display
from fhir_mapping.terminology import code_maps, system

__all__ = ["map_encounters", "attendance", "mechanism"]

# All contact tables in one shape. Contacts of MHSDS and Talking Therapies name their patient;
# VCSE contacts reach the person through their referral; GP appointments through the patient id.
_CONTACTS_SQL = """
WITH contacts AS (
    SELECT 'mhsds' AS source, 'MHS201CareContact' AS table_name, c.provider_ods, c.CareContactId AS local_id,
           c.LocalPatientId AS local_patient_id, c.ServiceRequestId AS referral_local_id,
           c.CareContDate AS contact_date, c.ClinContDurOfCareCont AS length_minutes,
           c.ConsMechanismMH AS mechanism_code, c.AttendStatus AS attendance_code, c.ActLocTypeCode AS location_code,
           NULL AS staff_role, NULL AS appointment_type, NULL AS activity, c.source_file, c.source_line
    FROM mhsds_MHS201CareContact c
    UNION ALL
    SELECT 'talking_therapies', 'IDS201CareContact', c.provider_ods, c.CareContactId, c.LocalPatientId,
           c.ServiceRequestId, c.CareContDate, NULL, c.ConsMechanism, c.AttendStatus, NULL, NULL, c.AppType, NULL,
           c.source_file, c.source_line
    FROM talking_therapies_IDS201CareContact c
    UNION ALL
    SELECT 'gp', 'appointment', a.provider_ods, a.appointment_id, a.patient_id, NULL, a.start::DATE,
           a.duration_minutes, a.mode, a.status, NULL, a.staff_role, NULL, NULL, a.source_file, a.source_line
    FROM gp_appointment a
    UNION ALL
    SELECT 'vcse', 'contact', c.provider_ods, c.contact_id, vr.person_id, c.referral_id, c.contact_date, NULL,
           c.mode, CAST(c.attended AS VARCHAR), NULL, NULL, NULL, c.activity, c.source_file, c.source_line
    FROM vcse_contact c
    LEFT JOIN vcse_referral vr ON vr.provider_ods = c.provider_ods AND vr.referral_id = c.referral_id
)
SELECT c.*, s.person_id, s.nhs_number, r.id AS referral_id, r.table_name AS referral_table, r.episode,
       CASE WHEN c.source = 'gp' THEN c.provider_ods ELSE r.service_ods END AS service_ods,
       CASE WHEN c.source = 'gp' THEN c.staff_role ELSE r.service_code END AS service_code,
       CASE WHEN c.source = 'gp' AND NOT list_contains($mh_roles, c.staff_role) THEN 'out_of_scope_staff_role'
            WHEN c.source = 'vcse' AND c.local_patient_id IS NULL THEN 'referral_not_found'
            WHEN s.person_id IS NULL THEN 'person_not_linked' END AS reason
FROM contacts c
LEFT JOIN subjects s ON s.source = c.source AND s.provider_ods = c.provider_ods
                    AND s.local_patient_id = c.local_patient_id
LEFT JOIN referrals r ON r.source = c.source AND r.provider_ods = c.provider_ods
                     AND r.local_id = c.referral_local_id
ORDER BY c.source, c.provider_ods, c.local_id
"""

# Per source: (attendance code list, its code system, mechanism code list, its code system).
_SOURCE_CODES = {
    "mhsds": ("attend_status", "mhsds_attend_status", "cons_mechanism", "mhsds_consultation_mechanism"),
    "talking_therapies": ("attend_status", "mhsds_attend_status", "cons_mechanism", "mhsds_consultation_mechanism"),
    "gp": ("gp_appointment_status", "gp_appointment_status", "contact_mode", "contact_mode"),
    "vcse": ("vcse_attended", "vcse_attended", "contact_mode", "contact_mode"),
}


def _code_list(name: str) -> dict[str, Any]:
    return code_maps()[name] if name == "vcse_attended" else codes()[name]


def _normalised(code_list: str, code: str | None, field: str) -> str | None:
    """The normalised value of a source code: entries are the value itself or a dict holding it in `field`."""
    entry = _code_list(code_list).get(code) if code is not None else None
    return entry.get(field) if isinstance(entry, dict) else entry


def attendance(source: str, code: str | None) -> str | None:
    """attended, did_not_attend, cancelled_by_patient or cancelled_by_provider (None if unknown)."""
    return _normalised(_SOURCE_CODES[source][0], code, "outcome")


def mechanism(source: str, code: str | None) -> str | None:
    """face_to_face, telephone, video or other (None if unknown)."""
    return _normalised(_SOURCE_CODES[source][2], code, "mechanism")


def _attendance_ext(source: str, code: str | None) -> dict[str, Any] | None:
    """The source's attendance code kept exactly, beside carebridge's normalised coding."""
    if code is None:
        return None
    return ext("attendance", valueCodeableConcept=concept(
        coding(_SOURCE_CODES[source][1], code), coding("attendance", attendance(source, code))))


def _mechanism_ext(source: str, code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    return ext("contact_mechanism", valueCodeableConcept=concept(
        coding(_SOURCE_CODES[source][3], code), coding("mechanism", mechanism(source, code))))


def _class(location_code: str | None, source: str, mechanism_code: str | None) -> dict[str, Any]:
    """Encounter.class: HH for home contacts, else from the mechanism; NullFlavor UNK when unknown."""
    maps = code_maps()
    normalised_mechanism = mechanism(source, mechanism_code)
    home = location_code in maps["home_location_codes"] or (
        source in ("gp", "vcse") and mechanism_code in maps["home_contact_modes"])
    key = "home" if home else (normalised_mechanism or "unknown")
    entry = maps["encounter_class"][key]
    return {"system": system("null_flavor" if key == "unknown" else "act_code"), "code": entry["code"],
            "display": entry["display"]}


def _length(minutes: int | None) -> dict[str, Any] | None:
    if minutes is None:
        return None
    return {"value": minutes, "unit": "min", "system": system("ucum"), "code": "min"}


def _type(appointment_type: str | None, activity: str | None) -> list[dict[str, Any] | None]:
    return [concept(coding("iapt_appointment_type", appointment_type,
                           (codes()["tt_app_type"].get(appointment_type) or {}).get("name"))),
            concept(coding("vcse_activity", activity))]


def _service_type(service_code: str | None) -> dict[str, Any] | None:
    return concept(coding("service_type", service_code, service_type_display(service_code)))


def _participant(staff_role: str | None) -> list[dict[str, Any]]:
    return [{"type": [concept(coding("staff_role", staff_role))]}]


def encounter(row: dict[str, Any]) -> dict[str, Any]:
    """One Encounter; the elements that repeat across contacts are shared (`elements.shared`)."""
    src, ods = row["source"], row["provider_ods"]
    outcome = attendance(src, row["attendance_code"])
    referral = (record_ref("ServiceRequest", row["referral_id"], src, ods, row["referral_table"], row["referral_local_id"])
                if row["referral_id"] else None)
    episode = (record_ref("EpisodeOfCare", row["referral_id"], src, ods, row["referral_table"], row["referral_local_id"])
               if row["referral_id"] and row["episode"] else None)
    return prune({
        "resourceType": "Encounter",
        "id": row["id"],
        "meta": meta("Encounter", src, ods),
        "extension": [shared(_attendance_ext, src, row["attendance_code"]),
                      shared(_mechanism_ext, src, row["mechanism_code"]),
                      ext("healthcare_service", valueReference=service_ref(row["service_ods"], row["service_code"]))],
        "identifier": [local_identifier(src, ods, row["table_name"], row["local_id"])],
        "status": code_maps()["encounter_status"].get(outcome, "unknown"),
        "class": shared(_class, row["location_code"], src, row["mechanism_code"]),
        "type": shared(_type, row["appointment_type"], row["activity"]),
        "serviceType": shared(_service_type, row["service_code"]),
        "subject": patient_ref(row["person_id"], row["nhs_number"]),
        "episodeOfCare": [episode],
        "basedOn": [referral],
        "participant": shared(_participant, row["staff_role"]),
        "period": {"start": iso(row["contact_date"])},
        "length": shared(_length, row["length_minutes"]),
        "serviceProvider": org_ref(ods),
    })


def _warn_orphans(ctx: MappingContext, table: pa.Table) -> None:
    """Contacts naming a referral that is not among the mapped referrals keep no basedOn: say so."""
    orphans = table.filter(pc.and_(pc.is_valid(table["referral_local_id"]), pc.is_null(table["referral_id"])))
    for (source, table_name), n in Counter(zip(orphans["source"].to_pylist(), orphans["table_name"].to_pylist())).items():
        ctx.warnings.append(f"{n} {source}.{table_name} rows name a referral that was not mapped: "
                            "Encounter kept without basedOn")


def map_encounters(ctx: MappingContext) -> list[dict[str, Any]]:
    table = ctx.sql(_CONTACTS_SQL, {"mh_roles": codes()["mental_health_staff_roles"]})
    table = ctx.keep_mapped(table, "local_id")
    _warn_orphans(ctx, table)
    # A GP appointment's service (practice, staff role) is a primary care one.
    settings = ["primary" if s == "gp" else None for s in table["source"].to_pylist()]
    ctx.use_services(zip(table["service_ods"].to_pylist(), table["service_code"].to_pylist(), settings))
    return [encounter(row) for row in with_record_ids(table).to_pylist()]

