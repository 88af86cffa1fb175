"""`map_resources`: staged tables + person index + reference data -> FHIR resources (outputs.md A)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from fhir_mapping.care_plan import map_care_plans
from fhir_mapping.coded_events import events_of, gp_coded_events
from fhir_mapping.condition import map_conditions
from fhir_mapping.context import UNMAPPED_SCHEMA, PersonIndexLike, ReferenceLike, build_context
from fhir_mapping.encounter import map_encounters
from fhir_mapping.episode_of_care import map_episodes_of_care
from fhir_mapping.observation import map_observations
from fhir_mapping.organization import map_healthcare_services, map_organizations
from fhir_mapping.patient import map_patients
from fhir_mapping.referral_matching import match_referrals
from fhir_mapping.referrals import build_referrals
from fhir_mapping.service_request import map_service_requests

__all__ = ["MappingResult", "map_resources"]


@dataclass(frozen=True)
class MappingResult:
    resources: dict[str, list[dict[str, Any]]]   # resource type -> resources sorted by id
    unmapped: pa.Table                           # UNMAPPED_SCHEMA: one row per source row not mapped, with reason
    warnings: list[str]
    referral_matches: pa.Table                   # referral_matching.MATCH_SCHEMA

    def counts(self) -> dict[str, int]:
        return {rtype: len(items) for rtype, items in self.resources.items()}


def _sorted_unmapped(parts: list[pa.Table]) -> pa.Table:
    if not parts:
        return UNMAPPED_SCHEMA.empty_table()
    return pa.concat_tables(parts).sort_by([("source", "ascending"), ("table_name", "ascending"),
                                            ("provider_ods", "ascending"), ("local_id", "ascending"),
                                            ("source_line", "ascending")])


def map_resources(staged: dict[str, pa.Table], person_index: PersonIndexLike, reference: ReferenceLike) -> MappingResult:
    """Every resource of outputs.md A from one run's staged tables; pure (no files, no database)."""
    ctx = build_context(staged, person_index, reference)
    referrals = build_referrals(ctx)
    matches = match_referrals(ctx)
    events = gp_coded_events(ctx)
    care_plans, goals = map_care_plans(ctx, events_of(events, "CarePlan"))
    resources = {
        "ServiceRequest": map_service_requests(referrals, matches),
        "EpisodeOfCare": map_episodes_of_care(referrals),
        "Encounter": map_encounters(ctx),
        "CarePlan": care_plans,
        "Goal": goals,
        "Observation": map_observations(ctx, events_of(events, "Observation")),
        "Condition": map_conditions(events_of(events, "Condition")),
        "Patient": map_patients(ctx),
    }
    # Last: they include every organisation and service the records above reference.
    resources["Organization"] = map_organizations(ctx)
    resources["HealthcareService"] = map_healthcare_services(ctx)
    ctx.con.close()
    return MappingResult(
        resources={rtype: sorted(items, key=lambda r: r["id"]) for rtype, items in sorted(resources.items())},
        unmapped=_sorted_unmapped(ctx.unmapped),
        warnings=sorted(set(ctx.warnings)),
        referral_matches=matches,
    )
