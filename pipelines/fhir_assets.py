"""FHIR assets: resources for every linked record (NDJSON bulk layout) and per-organisation bundles."""


import json

import dagster as dg
import pyarrow as pa

from carebridge.reference import load_reference
from fhir_mapping import (care_relationships, map_resources, read_ndjson, validate_resources, write_bundles,
                          write_ndjson)
from linkage import PersonIndex
from pipelines.linkage_assets import person_index
from pipelines.metadata import counts_table
from pipelines.resources import CarebridgeResource
from staging import staged_table_keys
from warehouse.db import read_table, write_table
from warehouse.store import load_person_index, load_staged

FHIR = "fhir"


def _inputs(carebridge: CarebridgeResource):
    staged_tables = load_staged(carebridge.engine, staged_table_keys())
    links, persons = load_person_index(carebridge.engine)
    return staged_tables, PersonIndex(links=links, persons=persons)


def _transaction_time(carebridge: CarebridgeResource) -> str:
    """Derived from the newest submission, so two runs over the same landing area agree to the byte."""
    audit = read_table(carebridge.engine, "identifiable", "load_audit")
    latest = max(audit["submission_id"].to_pylist() or ["19700101T0000"])
    return f"{latest[0:4]}-{latest[4:6]}-{latest[6:8]}T{latest[9:11]}:{latest[11:13]}:00Z"


@dg.asset(deps=[person_index], group_name=FHIR, kinds={"fhir", "ndjson"},
          check_specs=[dg.AssetCheckSpec("fhir_model_valid", asset="fhir_resources", blocking=True,
                                         description="every resource validates against the fhir.resources R4B model"),
                       dg.AssetCheckSpec("every_row_mapped", asset="fhir_resources", blocking=False,
                                         description="every staged row became a resource, or is listed with a reason")])
def fhir_resources(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Maps staged rows of every source to FHIR R4 / UK Core resources with deterministic ids,
    validates each with the R4B models and writes `fhir/ndjson/` as a Bulk Data export."""
    staged_tables, index = _inputs(carebridge)
    mapping = map_resources(staged_tables, index, load_reference(carebridge.landing))
    report = validate_resources(mapping.resources)
    write_ndjson(mapping.resources, carebridge.out, _transaction_time(carebridge))
    write_table(carebridge.engine, "identifiable", "fhir_unmapped", mapping.unmapped)
    write_table(carebridge.engine, "identifiable", "referral_match", mapping.referral_matches)
    counts = {t: len(r) for t, r in mapping.resources.items()}
    failures = report.failures
    reasons = mapping.unmapped.group_by("reason").aggregate([("reason", "count")]).to_pylist()
    by_reason = {r["reason"]: r["reason_count"] for r in reasons}
    # Rows outside the FHIR scope (e.g. a GP appointment with a pharmacist) are expected, not failures.
    unexpected = sum(n for reason, n in by_reason.items() if not reason.startswith("out_of_scope"))
    return dg.MaterializeResult(
        metadata={"resources": sum(counts.values()), "by_type": counts_table(counts, "resource type", "resources"),
                  "validation_failures": len(failures), "rows_not_mapped": mapping.unmapped.num_rows,
                  "warnings": "\n".join(mapping.warnings[:50]),
                  "ndjson": dg.MetadataValue.path(str(carebridge.out / "fhir" / "ndjson"))},
        check_results=[
            dg.AssetCheckResult(check_name="fhir_model_valid", passed=not failures,
                                metadata={"checked": report.checked, "failures": len(failures),
                                          "examples": json.dumps(failures[:5], default=str)}),
            dg.AssetCheckResult(check_name="every_row_mapped", passed=unexpected == 0,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"unmapped_rows": unexpected,
                                          "by_reason": counts_table(by_reason, "reason")}),
        ])


@dg.asset(deps=[fhir_resources], group_name=FHIR, kinds={"fhir"},
          check_specs=[dg.AssetCheckSpec("care_relationship_only", asset="fhir_bundles", blocking=True,
                                         description="no bundle holds a person the organisation does not care for")])
def fhir_bundles(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """One transaction Bundle per provider organisation and month (`fhir/bundles/<ODS>/<YYYY-MM>.json`)
    holding what other organisations record about the people it cares for."""
    staged_tables, index = _inputs(carebridge)
    resources = read_ndjson(carebridge.out / "fhir" / "ndjson")
    relationships = care_relationships(staged_tables, index)
    paths = write_bundles(resources, relationships, carebridge.out)
    write_table(carebridge.engine, "identifiable", "care_relationship", relationships)
    outside = _people_outside_relationships(paths, relationships)
    return dg.MaterializeResult(
        metadata={"bundles": len(paths), "organisations": len({p.parent.name for p in paths}),
                  "bundles_dir": dg.MetadataValue.path(str(carebridge.out / "fhir" / "bundles"))},
        check_results=[dg.AssetCheckResult(check_name="care_relationship_only", passed=outside == 0,
                                           metadata={"patients_outside_relationships": outside})])


def _people_outside_relationships(paths, relationships: pa.Table) -> int:
    """Re-read every bundle written and count Patient entries with no care relationship."""
    allowed = set(zip(relationships["ods"].to_pylist(), relationships["month"].to_pylist(),
                      relationships["person_id"].to_pylist()))
    outside = 0
    for path in paths:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            if resource["resourceType"] == "Patient" and (path.parent.name, path.stem, resource["id"]) not in allowed:
                outside += 1
    return outside
