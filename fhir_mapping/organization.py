"""Organization per reference organisation and per ODS code seen in the extracts or referenced by a
mapped record; HealthcareService per reference service and per service a record references.
What the reference data lacks is kept (no name) and reported as a warning, never a failure."""

from __future__ import annotations

from typing import Any

from carebridge.core.ids import organisation_id, service_id
from fhir_mapping.context import MappingContext, sql_name
from fhir_mapping.elements import coding, concept, meta, org_ref, prune, service_key
from fhir_mapping.service_request import service_type_display
from fhir_mapping.terminology import code_maps, inputs, system

__all__ = ["map_organizations", "map_healthcare_services", "ods_codes_in_extracts"]


def ods_codes_in_extracts(ctx: MappingContext) -> set[str]:
    """Every provider ODS code of the staged tables and every code in an ODS column (inputs.yaml)."""
    cols = inputs()["ods_columns"]
    selects = [f'SELECT DISTINCT {c} AS ods FROM {sql_name(key)}'
               for key in inputs()["tables"] for c in ["provider_ods", *cols.get(key, [])]]
    table = ctx.sql(" UNION ".join(selects))
    return {c for c in table["ods"].to_pylist() if c}


def _type(kind: str | None) -> dict[str, Any] | None:
    """UKCore-OrganizationType's code for the kind (code_maps.yaml organization_type), then the kind."""
    national = code_maps()["organization_type"].get(kind or "")
    return concept(coding("organization_type", national["code"], national["display"]) if national else None,
                   coding("organisation_kind", kind))


def organization(ods: str, ref: dict[str, Any] | None) -> dict[str, Any]:
    ref = ref or {}
    return prune({
        "resourceType": "Organization",
        "id": organisation_id(ods),
        "meta": meta("Organization", "reference", ods),
        "identifier": [{"system": system("ods_organization"), "value": ods}],
        "active": True,
        "type": [_type(ref.get("kind"))],
        "name": ref.get("name"),
        "partOf": org_ref(ref.get("parent_ods")),
    })


def map_organizations(ctx: MappingContext) -> list[dict[str, Any]]:
    reference = {r["ods_code"]: r for r in ctx.reference.organisations.to_pylist()}
    wanted = set(reference) | ods_codes_in_extracts(ctx) | ctx.organisations_used
    wanted |= {provider for provider, _ in ctx.services_used}
    wanted |= {r["parent_ods"] for r in reference.values() if r["parent_ods"]}
    for ods in sorted(wanted - set(reference)):
        ctx.warnings.append(f"ODS code {ods} is not in the reference organisations: Organization kept without a name")
    return [organization(ods, reference.get(ods)) for ods in sorted(wanted)]


def healthcare_service(ods: str, code: str, ref: dict[str, Any] | None, setting: str | None) -> dict[str, Any]:
    ref = ref or {}
    return prune({
        "resourceType": "HealthcareService",
        "id": service_id(ods, code),
        "meta": meta("HealthcareService", "reference", ods),
        "identifier": [{"system": system("healthcare_service_id"), "value": service_key(ods, code)}],
        "active": True,
        "providedBy": org_ref(ods),
        "category": [concept(coding("setting", ref.get("setting") or setting))],
        "type": [concept(coding("service_type", code, service_type_display(code)))],
        "name": ref.get("name"),
        "characteristic": [concept(coding("service_level", ref.get("level")))],
    })


def map_healthcare_services(ctx: MappingContext) -> list[dict[str, Any]]:
    """Call after the record mappers: they record the services they reference."""
    reference = {(r["provider_ods"], r["service_code"]): r for r in ctx.reference.services.to_pylist()}
    for ods, code in sorted(set(ctx.services_used) - set(reference)):
        ctx.warnings.append(f"Service {service_key(ods, code)} is not in the reference services: "
                            "HealthcareService kept without a name")
    keys = sorted(set(reference) | set(ctx.services_used))
    return [healthcare_service(ods, code, reference.get((ods, code)), ctx.services_used.get((ods, code)))
            for ods, code in keys]

