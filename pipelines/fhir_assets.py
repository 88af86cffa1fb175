"""FHIR assets: resources for every linked record (NDJSON bulk layout) and per-organisation bundles."""


import json
from datetime import datetime, timezone

import dagster as dg

from carebridge.core.reference import load_reference
from fhir_mapping import care_relationships
from fhir_mapping.bundles import write_bundles_from_ndjson
from fhir_mapping.export import write_fhir_export
from carebridge.linkage import PersonIndex
from pipelines.linkage_assets import person_index
from pipelines.metadata import counts_table
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from carebridge.staging import staged_table_keys
from warehouse.db import append_table, read_table, write_table
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


@dg.asset(deps=[person_index], group_name=FHIR, kinds={"fhir", "ndjson"}, pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec("fhir_model_valid", asset="fhir_resources", blocking=True,
                                         description="every resource validates against the fhir.resources R4B model"),
                       dg.AssetCheckSpec("uk_core_profiles", asset="fhir_resources", blocking=True,
                                         description="every resource meets the UK Core rules of "
                                                     "fhir_mapping/ukcore_rules.yaml (profiles, identifiers, "
                                                     "extensions, code systems, references)"),
                       dg.AssetCheckSpec("every_row_mapped", asset="fhir_resources", blocking=False,
                                         description="every staged row became a resource, or is listed with a reason")])
def fhir_resources(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Maps staged rows of every source to FHIR R4 / UK Core resources with deterministic ids,
    validates each with the R4B models and writes `fhir/ndjson/` as a Bulk Data export, in shards of
    people so memory does not grow with the population (fhir_mapping.export)."""
    staged_tables, index = _inputs(carebridge)
    mapping = write_fhir_export(staged_tables, index, load_reference(carebridge.landing), carebridge.out,
                                _transaction_time(carebridge))
    report, profiles = mapping.validation, mapping.profiles
    write_table(carebridge.engine, "identifiable", "fhir_unmapped", mapping.unmapped)
    write_table(carebridge.engine, "identifiable", "referral_match", mapping.referral_matches)
    counts = mapping.counts
    failures = report.failures
    reasons = mapping.unmapped.group_by("reason").aggregate([("reason", "count")]).to_pylist()
    by_reason = {r["reason"]: r["reason_count"] for r in reasons}
    # Rows outside the FHIR scope (e.g. a GP appointment with a pharmacist) are expected, not failures.
    unexpected = sum(n for reason, n in by_reason.items() if not reason.startswith("out_of_scope"))
    return dg.MaterializeResult(
        metadata={"resources": sum(counts.values()), "by_type": counts_table(counts, "resource type", "resources"),
                  "shards": mapping.shards,
                  "validation_failures": len(failures), "rows_not_mapped": mapping.unmapped.num_rows,
                  "warnings": "\n".join(mapping.warnings[:50]),
                  "ndjson": dg.MetadataValue.path(str(carebridge.out / "fhir" / "ndjson"))},
        check_results=[
            dg.AssetCheckResult(check_name="fhir_model_valid", passed=not failures,
                                metadata={"checked": report.checked, "failures": len(failures),
                                          "examples": json.dumps(failures[:5], default=str)}),
            dg.AssetCheckResult(check_name="uk_core_profiles", passed=profiles.ok,
                                metadata={"checked": profiles.checked, "failures": len(profiles.failures),
                                          "by_rule": counts_table(profiles.by_rule(), "rule"),
                                          "examples": json.dumps(profiles.failures[:5])}),
            dg.AssetCheckResult(check_name="every_row_mapped", passed=unexpected == 0,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"unmapped_rows": unexpected,
                                          "by_reason": counts_table(by_reason, "reason")}),
        ])


@dg.asset(deps=[fhir_resources], group_name=FHIR, kinds={"fhir"}, pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec("care_relationship_only", asset="fhir_bundles", blocking=True,
                                         description="no bundle holds a person the organisation does not care for")])
def fhir_bundles(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """One transaction Bundle per provider organisation and month (`fhir/bundles/<ODS>/<YYYY-MM>.json`)
    holding what other organisations record about the people it cares for. Who received whose
    records is appended to `identifiable.disclosure_log` under this run's id."""
    staged_tables, index = _inputs(carebridge)
    relationships = care_relationships(staged_tables, index)
    bundles = write_bundles_from_ndjson(carebridge.out / "fhir" / "ndjson", relationships, carebridge.out)
    paths = bundles.paths
    write_table(carebridge.engine, "identifiable", "care_relationship", relationships)
    # From the bundle index: the same rows as disclosure_log over the bundles, without re-reading them.
    log = bundles.disclosure_log(context.run_id, datetime.now(timezone.utc))
    append_table(carebridge.engine, "identifiable", "disclosure_log", log)
    outside = bundles.patients_outside
    return dg.MaterializeResult(
        metadata={"bundles": len(paths), "organisations": len({p.parent.name for p in paths}),
                  "disclosures_logged": log.num_rows,
                  "bundles_dir": dg.MetadataValue.path(str(carebridge.out / "fhir" / "bundles"))},
        check_results=[dg.AssetCheckResult(check_name="care_relationship_only", passed=outside == 0,
                                           metadata={"patients_outside_relationships": outside})])

