"""`map_resources`: staged tables + person index + reference data -> FHIR resources (outputs.md A).

`map_records` is the part that depends on people (every record resource and the Patients); the
batched export (`fhir_mapping.export`) runs it per shard of people and maps the reference data
(Organization, HealthcareService) once, so both paths share one definition of each resource.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from fhir_mapping.care_plan import map_care_plans
from fhir_mapping.coded_events import events_of, gp_coded_events
from fhir_mapping.condition import map_conditions
from fhir_mapping.context import UNMAPPED_SCHEMA, MappingContext, PersonIndexLike, ReferenceLike, build_context
from fhir_mapping.encounter import map_encounters
from fhir_mapping.episode_of_care import map_episodes_of_care
from fhir_mapping.observation import map_observations
from fhir_mapping.organization import map_healthcare_services, map_organizations
from fhir_mapping.patient import map_patients
from fhir_mapping.referral_matching import match_referrals
from fhir_mapping.referrals import build_referrals
from fhir_mapping.service_request import map_service_requests

__all__ = ["MappingResult", "map_resources", "map_records", "sorted_unmapped", "merged_warnings"]

Resources = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class MappingResult:
    # resource type -> resources sorted by id; read-only: resources share elements (elements.shared),
    # so copy a resource (copy.deepcopy of that resource) before changing it
    resources: Resources
    unmapped: pa.Table                           # UNMAPPED_SCHEMA: one row per source row not mapped, with reason
    warnings: list[str]
    referral_matches: pa.Table                   # referral_matching.MATCH_SCHEMA

    def counts(self) -> dict[str, int]:
        return {rtype: len(items) for rtype, items in self.resources.items()}


# Every column, so the order never depends on the order the parts were produced in.
_UNMAPPED_ORDER = ["source", "table_name", "provider_ods", "local_id", "source_line", "source_file", "reason"]


def sorted_unmapped(parts: list[pa.Table]) -> pa.Table:
    """The unmapped rows of all parts in one table, in a total order."""
    if not parts:
        return UNMAPPED_SCHEMA.empty_table()
    return pa.concat_tables(parts).sort_by([(c, "ascending") for c in _UNMAPPED_ORDER])


_COUNTED = re.compile(r"^(\d+) (.+)$", re.DOTALL)


def merged_warnings(warnings: Iterable[str]) -> list[str]:
    """Distinct warnings, sorted; warnings that start with a count ("3 mhsds... rows ...") and
    otherwise agree are one warning with the counts added (the same warning from several shards)."""
    counted: Counter[str] = Counter()
    plain: set[str] = set()
    for warning in warnings:
        match = _COUNTED.match(warning)
        if match:
            counted[match.group(2)] += int(match.group(1))
        else:
            plain.add(warning)
    return sorted(plain | {f"{n} {text}" for text, n in counted.items()})


def map_records(ctx: MappingContext, referrals: pa.Table, matches: pa.Table) -> Resources:
    """Every resource about people (records and Patients) of the context; `referrals` is the
    registered referral frame (`build_referrals`), `matches` the referral matches (MATCH_SCHEMA)
    of at least its receiving referrals. Records the organisations and services they reference."""
    events = gp_coded_events(ctx)
    care_plans, goals = map_care_plans(ctx, events_of(events, "CarePlan"))
    return {
        "ServiceRequest": map_service_requests(referrals, matches),
        "EpisodeOfCare": map_episodes_of_care(referrals),
        "Encounter": map_encounters(ctx),
        "CarePlan": care_plans,
        "Goal": goals,
        "Observation": map_observations(ctx, events_of(events, "Observation")),
        "Condition": map_conditions(events_of(events, "Condition")),
        "Patient": map_patients(ctx),
    }


def map_resources(staged: dict[str, pa.Table], person_index: PersonIndexLike, reference: ReferenceLike) -> MappingResult:
    """Every resource of outputs.md A from one run's staged tables; pure (no files, no database)."""
    ctx = build_context(staged, person_index, reference)
    referrals = build_referrals(ctx)
    matches = match_referrals(ctx)
    resources = map_records(ctx, referrals, matches)
    # Last: they include every organisation and service the records above reference.
    resources["Organization"] = map_organizations(ctx)
    resources["HealthcareService"] = map_healthcare_services(ctx)
    ctx.con.close()
    return MappingResult(
        resources={rtype: sorted(items, key=lambda r: r["id"]) for rtype, items in sorted(resources.items())},
        unmapped=sorted_unmapped(ctx.unmapped),
        warnings=merged_warnings(ctx.warnings),
        referral_matches=matches,
    )
