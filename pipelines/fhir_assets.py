"""FHIR assets: resources for every linked record (NDJSON bulk layout) and per-organisation bundles.

Both are incremental (pipelines.incremental): unchanged inputs replay the last outcome; otherwise
the export maps only the person shards whose inputs changed (fhir_mapping.export.ShardStore, the
digests in `fhir.shard_digest`) and the bundles rewrite only the organisation-months whose
content changed (`fhir.bundle_digest`)."""


import json
import shutil
from datetime import datetime, timezone

import dagster as dg
import pyarrow as pa

from carebridge.core.reference import load_reference
from fhir_mapping import care_relationships
from fhir_mapping.bundles import write_bundles_from_ndjson
from fhir_mapping.export import ShardStore
from fhir_mapping.definitions import write_definitions
from fhir_mapping.retraction import retracted, retraction_log, write_retractions
from carebridge.linkage import PersonIndex
from pipelines.linkage_assets import person_index
from pipelines.incremental import Gate, code_version, digest, files_digest, open_gate, recorded_fingerprints
from pipelines.metadata import counts_table
from pipelines.spark_resource import SparkResource
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from carebridge.staging import staged_table_keys
from warehouse.catalog import audit, fhir as catalog
from warehouse.catalog.linkage import load_person_index
from warehouse.catalog.staging import load_staged

FHIR = "fhir"
_SHARDS = ".shards"     # under fhir/: each person shard's kept parts (fhir_mapping.export.ShardStore)
_RESOURCE_TABLES = [f"{audit.SCHEMA}.fhir_unmapped", f"{catalog.SCHEMA}.referral_match",
                    f"{catalog.SCHEMA}.care_relationship", f"{catalog.SCHEMA}.shard_digest"]
_BUNDLE_TABLES = [f"{audit.SCHEMA}.disclosure_ledger", f"{catalog.SCHEMA}.bundle_digest"]


def _inputs(carebridge: CarebridgeResource):
    staged_tables = load_staged(carebridge.engine, staged_table_keys())
    links, persons = load_person_index(carebridge.engine)
    return staged_tables, PersonIndex(links=links, persons=persons)


def _transaction_time(carebridge: CarebridgeResource) -> str:
    """Derived from the newest submission, so two runs over the same landing area agree to the byte."""
    # Files never staged (ignored or refused by staging) may have no submission id.
    latest = max((s for s in audit.load_audit(carebridge.engine)["submission_id"].to_pylist() if s),
                 default="19700101T0000")
    return f"{latest[0:4]}-{latest[4:6]}-{latest[6:8]}T{latest[9:11]}:{latest[11:13]}:00Z"


def _reference_digest(carebridge: CarebridgeResource) -> str:
    return files_digest([carebridge.landing / "reference"], carebridge.landing)


def _resources_gate(carebridge: CarebridgeResource, reference_digest: str) -> Gate:
    """Unchanged when staging, the person index, the deployment's reference data and the
    validation mode are those it last mapped, and the NDJSON export is still there."""
    engine = carebridge.engine
    gate = open_gate(engine, "fhir_resources", recorded_fingerprints(engine, "staged", "person_index"),
                     reference_digest, carebridge.strict_validation)
    gate.outputs_present = gate.outputs_present and (carebridge.layout.fhir_ndjson / "manifest.json").is_file()
    return gate


def _shard_store(carebridge: CarebridgeResource, reference_digest: str) -> ShardStore:
    return ShardStore(folder=carebridge.layout.fhir / _SHARDS, previous=catalog.load_shard_digests(carebridge.engine),
                      salt=digest(code_version(), reference_digest))


@dg.asset(deps=[person_index], group_name=FHIR, kinds={"fhir", "ndjson"}, pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec("fhir_model_valid", asset="fhir_resources", blocking=True,
                                         description="every resource validates against FHIR R4: the compiled schema derived "
                                                     "from the fhir.resources R4B models (the models themselves "
                                                     "with --strict)"),
                       dg.AssetCheckSpec("uk_core_profiles", asset="fhir_resources", blocking=True,
                                         description="every resource meets the UK Core rules of "
                                                     "fhir_mapping/ukcore_rules.yaml (profiles, identifiers, "
                                                     "extensions, code systems, references)"),
                       dg.AssetCheckSpec("every_row_mapped", asset="fhir_resources", blocking=False,
                                         description="every staged row became a resource, or is listed with a reason")])
def fhir_resources(context: dg.AssetExecutionContext, carebridge: CarebridgeResource,
                   spark: SparkResource) -> dg.MaterializeResult:
    """Maps staged rows of every source to FHIR R4 / UK Core resources with deterministic ids,
    validates each (compiled schema from the R4B models; the models themselves with --strict) and writes `fhir/ndjson/` as a Bulk Data export, in shards of
    people so memory does not grow with the population (fhir_mapping.export). Only the shards
    whose people's records changed are mapped again; saves the care relationships for the bundles."""
    reference_digest = _reference_digest(carebridge)     # the landing's reference files, walked once
    gate = _resources_gate(carebridge, reference_digest)
    if gate.unchanged:
        return gate.replayed({"shards": gate.recorded["outcome"].get("shards", 0), "shards_mapped": 0})
    staged_tables, index = _inputs(carebridge)
    mapping = spark.fhir_export(carebridge)(staged_tables, index, load_reference(carebridge.landing), carebridge.out,
                                _transaction_time(carebridge), strict=carebridge.strict_validation,
                                store=_shard_store(carebridge, reference_digest))
    catalog.save_shard_digests(carebridge.engine, mapping.shard_digests)
    catalog.save_care_relationships(carebridge.engine, care_relationships(staged_tables, index))
    result = _resources_result(carebridge, mapping)
    return gate.record(context.run_id, [dg.MaterializeResult(
        metadata={**result.metadata, **gate.metadata(), "shards_mapped": mapping.shards - mapping.shards_reused
                  if mapping.shard_digests else mapping.shards},
        check_results=result.check_results)], {"tables": _RESOURCE_TABLES, "shards": mapping.shards})[0]


def _resources_result(carebridge: CarebridgeResource, mapping) -> dg.MaterializeResult:
    """The export's accounting and checks; saves its side tables."""
    definitions = write_definitions(carebridge.out)    # carebridge's own code systems and extensions
    report, profiles = mapping.validation, mapping.profiles
    audit.save_fhir_unmapped(carebridge.engine, mapping.unmapped)
    catalog.save_referral_matches(carebridge.engine, mapping.referral_matches)
    counts = mapping.counts
    failures = report.failures
    reasons = mapping.unmapped.group_by("reason").aggregate([("reason", "count")]).to_pylist()
    by_reason = {r["reason"]: r["reason_count"] for r in reasons}
    # Rows outside the FHIR scope (e.g. a GP appointment with a pharmacist) are expected, not failures.
    unexpected = sum(n for reason, n in by_reason.items() if not reason.startswith("out_of_scope"))
    return dg.MaterializeResult(
        metadata={"resources": sum(counts.values()), "by_type": counts_table(counts, "resource type", "resources"),
                  "shards": mapping.shards, "definitions": len(definitions),
                  "validation_failures": len(failures), "rows_not_mapped": mapping.unmapped.num_rows,
                  "warnings": "\n".join(mapping.warnings[:50]),
                  "ndjson": dg.MetadataValue.path(str(carebridge.layout.fhir_ndjson))},
        check_results=[
            dg.AssetCheckResult(check_name="fhir_model_valid", passed=not failures,
                                metadata={"checked": report.checked, "failures": len(failures),
                                          "validator": "fhir.resources R4B models" if carebridge.strict_validation
                                          else "compiled (jsonschema-rs)",
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
    """Each provider organisation's delivery parts (`fhir/bundles/<ODS>/<YYYY-MM>/<NNNN>.json`, small
    self-contained transactions with conditional Patient/Organization entries, fhir_mapping.delivery)
    holding what other organisations record about the people it cares for, and conditional DELETEs
    of what it received earlier and must no longer hold (`fhir/bundles/<ODS>/retractions/`). Who
    received (or lost) whose records is appended to `audit.disclosure_log` under this run's
    id; `audit.disclosure_ledger` keeps what each recipient now holds, for the next run. Only the
    organisation-months whose content changed are rewritten; nothing at all when the resources and
    the ledger are unchanged (the run then logs the same bundles as sent again)."""
    engine = carebridge.engine
    timestamp = _transaction_time(carebridge)
    gate = open_gate(engine, "fhir_bundles", *_bundles_inputs(carebridge, timestamp))
    if gate.recorded and gate.recorded["outcome"].get("organisation_months"):
        gate.outputs_present = gate.outputs_present and carebridge.layout.fhir_bundles.is_dir()
    if gate.unchanged:
        return _bundles_unchanged(context, carebridge, gate)
    relationships = catalog.load_care_relationships(engine)
    if relationships is None:       # resources written outside Dagster: rebuild them from staging
        relationships = care_relationships(*_inputs(carebridge))
    bundles = write_bundles_from_ndjson(carebridge.layout.fhir_ndjson, relationships, carebridge.out,
                                        timestamp=timestamp, previous=catalog.load_bundle_digests(engine),
                                        salt=code_version())
    paths = bundles.paths
    gone = retracted(audit.load_disclosure_ledger(engine), bundles.ledger)
    paths += write_retractions(carebridge.out, gone, timestamp)
    catalog.save_bundle_digests(engine, bundles.digests)
    audit.save_disclosure_ledger(engine, bundles.ledger)
    gate.fingerprint = digest(code_version(), *_bundles_inputs(carebridge, timestamp))  # with the ledger just written
    # From the bundle index: the same rows as disclosure_log over the bundles, without re-reading them.
    now = datetime.now(timezone.utc)
    log = pa.concat_tables([bundles.disclosure_log(context.run_id, now),
                            retraction_log(gone, context.run_id, now, timestamp[:7])])
    audit.append_disclosure_log(carebridge.engine, log)
    outside = bundles.patients_outside
    return gate.record(context.run_id, [dg.MaterializeResult(
        metadata={"bundle_parts": len(paths), "organisations": len({p.parent.parent.name for p in paths}),
                  "organisation_months": len(bundles.digests), "organisation_months_written": bundles.written,
                  "disclosures_logged": log.num_rows, "records_retracted": gone.num_rows,
                  "bundles_dir": dg.MetadataValue.path(str(carebridge.layout.fhir_bundles)), **gate.metadata()},
        check_results=[dg.AssetCheckResult(check_name="care_relationship_only", passed=outside == 0,
                                           metadata={"patients_outside_relationships": outside})])],
        {"tables": _BUNDLE_TABLES, "organisation_months": len(bundles.digests)})[0]


def _bundles_inputs(carebridge: CarebridgeResource, timestamp: str) -> list:
    """What the bundles are made from: the export (fhir_resources' fingerprint), the timestamp, and
    the ledger of what recipients hold (its rows: the stage replaces it whole, so an edit shows)."""
    engine = carebridge.engine
    return [recorded_fingerprints(engine, "fhir_resources"), timestamp, audit.ledger_rows(engine)]


def _bundles_unchanged(context: dg.AssetExecutionContext, carebridge: CarebridgeResource,
                       gate: Gate) -> dg.MaterializeResult:
    """The same bundles as the run that wrote them: logged as sent again under this run (every run
    appends its block), no retraction (the last run's are removed: the ledger is this run's)."""
    for folder in carebridge.layout.fhir_bundles.glob("*/retractions"):
        shutil.rmtree(folder)
    audit.log_sent_again(carebridge.engine, gate.recorded["run_id"], context.run_id,
                         datetime.now(timezone.utc).isoformat())
    return gate.replayed({"organisation_months": gate.recorded["outcome"].get("organisation_months", 0),
                          "organisation_months_written": 0})
