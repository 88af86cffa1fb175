"""Observation per coded score: MHSDS MHS606, Talking Therapies IDS606, GP score codes and VCSE
wellbeing scores. Coded SNOMED (plus LOINC for PHQ-9 / GAD-7 totals), or carebridge's measure code
system for measures without a SNOMED code (ONS4 items, WSAS)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from carebridge.core.reference import codes
from fhir_mapping.context import MappingContext, with_record_ids
from fhir_mapping.elements import (coding, concept, iso, local_identifier, meta, number, org_ref, patient_ref, prune,
                                   record_ref, shared)
from fhir_mapping.terminology import code_maps, system

__all__ = ["map_observations", "measure_of", "observation_code"]

_SCORES_SQL = """
WITH scores AS (
    SELECT 'mhsds' AS source, 'MHS606CodedScoreAssessmentRefer' AS table_name, a.provider_ods,
           a.AssessmentId AS local_id, a.ServiceRequestId AS referral_local_id, a.CodedAssToolType AS tool_code,
           NULL AS item, a.PersScore AS value, a.AssToolCompTimestamp::DATE AS effective_date,
           a.source_file, a.source_line, raw.ServiceRequestId IS NOT NULL AS referral_exists
    FROM mhsds_MHS606CodedScoreAssessmentRefer a
    LEFT JOIN mhsds_MHS101Referral raw ON raw.provider_ods = a.provider_ods AND raw.ServiceRequestId = a.ServiceRequestId
    UNION ALL
    SELECT 'talking_therapies', 'IDS606CodedScoreAssessmentRefer', a.provider_ods, a.AssessmentId,
           a.ServiceRequestId, a.CodedAssToolType, NULL, a.PersScore, a.AssToolCompTimestamp::DATE,
           a.source_file, a.source_line, raw.ServiceRequestId IS NOT NULL
    FROM talking_therapies_IDS606CodedScoreAssessmentRefer a
    LEFT JOIN talking_therapies_IDS101Referral raw ON raw.provider_ods = a.provider_ods
                                                  AND raw.ServiceRequestId = a.ServiceRequestId
    UNION ALL
    SELECT 'vcse', 'wellbeing_score', w.provider_ods, w.score_id, w.referral_id, w.measure, w.item, w.value,
           w.recorded_date, w.source_file, w.source_line, raw.referral_id IS NOT NULL
    FROM vcse_wellbeing_score w
    LEFT JOIN vcse_referral raw ON raw.provider_ods = w.provider_ods AND raw.referral_id = w.referral_id
)
SELECT c.*, r.person_id, r.nhs_number, r.id AS referral_id, r.table_name AS referral_table,
       CASE WHEN NOT c.referral_exists THEN 'referral_not_found'
            WHEN r.id IS NULL THEN 'person_not_linked'
            WHEN c.value IS NULL THEN 'missing_value' END AS reason
FROM scores c
LEFT JOIN referrals r ON r.source = c.source AND r.provider_ods = c.provider_ods AND r.local_id = c.referral_local_id
ORDER BY c.source, c.provider_ods, c.local_id
"""


@cache
def _measure_by_code() -> dict[str, str]:
    """SNOMED code, measure key or local item name -> measure key (codes.yaml `measures`)."""
    out: dict[str, str] = {}
    for key, spec in codes()["measures"].items():
        out[key] = key
        for code in [*(spec.get("snomed") or []), *(spec.get("items") or [])]:
            out[code] = key
    return out


def _snomed_term(code: str | None) -> str | None:
    """The recorded SNOMED CT preferred term of a concept (codes.yaml `snomed_terms`)."""
    return (codes()["snomed_terms"].get(code or "") or {}).get("term")


def measure_of(source: str, tool_code: str | None, item: str | None) -> str | None:
    """The measure key of a score: VCSE by (measure, item), others by their tool code."""
    if source == "vcse":
        return (code_maps()["wellbeing_measures"].get(tool_code) or {}).get(item)
    return _measure_by_code().get(tool_code or "")


def observation_code(source: str, tool_code: str | None, item: str | None) -> dict[str, Any] | None:
    """SNOMED first when the score has one, then LOINC for totals that have one, then the measure
    key in carebridge's measure system (first when there is no SNOMED code), then a VCSE item."""
    key = measure_of(source, tool_code, item)
    spec = codes()["measures"].get(key) or {}
    snomed = tool_code if tool_code and tool_code.isdigit() else (spec.get("snomed") or [None])[0]
    name = spec.get("name")
    return concept(
        coding("snomed", snomed, _snomed_term(snomed) or name),
        coding("loinc", spec.get("loinc"), name),
        coding("measure", key or (None if snomed else tool_code), name),
        coding("wellbeing_item", item) if source == "vcse" else None,
    )


def _value(value: float) -> dict[str, Any]:
    unit = code_maps()["score_unit"]
    return {"value": number(value), "unit": unit["unit"], "system": system("ucum"), "code": unit["code"]}


def observation(row: dict[str, Any]) -> dict[str, Any]:
    src, ods = row["source"], row["provider_ods"]
    based_on = (record_ref("ServiceRequest", row["referral_id"], src, ods, row["referral_table"], row["referral_local_id"])
                if row.get("referral_id") else None)
    return prune({
        "resourceType": "Observation",
        "id": row["id"],
        "meta": meta("Observation", src, ods),
        "identifier": [local_identifier(src, ods, row["table_name"], row["local_id"])],
        "basedOn": [based_on],
        "status": "final",
        "category": [concept(coding("observation_category", "survey"))],
        "code": shared(observation_code, src, row["tool_code"], row["item"]),
        "subject": patient_ref(row["person_id"], row["nhs_number"]),
        "effectiveDateTime": iso(row["effective_date"]),
        "performer": [org_ref(ods)],
        "valueQuantity": shared(_value, row["value"]),
    })


def _gp_score_rows(events: pa.Table) -> list[dict[str, Any]]:
    return [{**e, "tool_code": e["snomed_code"], "item": None, "effective_date": e["event_date"]}
            for e in events.to_pylist()]


def _identified(source: str, tool_code: str | None, item: str | None) -> bool:
    """Whether a score's measure is known: VCSE by its (measure, item) pair, others by a code."""
    if source == "vcse":
        return measure_of(source, tool_code, item) is not None
    return observation_code(source, tool_code, item) is not None


def _without_code(scores: pa.Table) -> pa.Table:
    """A score whose measure cannot be told (a VCSE row whose measure or item is missing) has no
    meaningful Observation.code: it is not mapped, with reason `unknown_measure`."""
    coded = pa.array([_identified(*key) for key in
                      zip(*(scores[c].to_pylist() for c in ("source", "tool_code", "item")))], pa.bool_())
    reason = pc.if_else(pc.or_kleene(coded, pc.is_valid(scores["reason"])), scores["reason"],
                        pa.scalar("unknown_measure", pa.string()))
    return scores.set_column(scores.column_names.index("reason"), "reason", reason)


def map_observations(ctx: MappingContext, gp_events: pa.Table) -> list[dict[str, Any]]:
    scores = with_record_ids(ctx.keep_mapped(_without_code(ctx.sql(_SCORES_SQL)), "local_id"))
    return [observation(r) for r in scores.to_pylist() + _gp_score_rows(gp_events)]
