"""Linkage asset: the person index across all four sources, deterministic then probabilistic."""

import json
from datetime import datetime, timezone

import dagster as dg
import pyarrow as pa

from carebridge.linkage import IdAssignment, build_person_index, default_model, summary_table
from carebridge.linkage.stable_ids import lost_ids
from pipelines.incremental import open_gate, recorded_fingerprints, table_digest
from pipelines.metadata import counts_table
from pipelines.spark_resource import SparkResource
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from pipelines.staging_assets import staged
from carebridge.staging import staged_table_keys
from warehouse.catalog import linkage as catalog
from warehouse.catalog.staging import load_staged


def _previous_assignment(carebridge: CarebridgeResource) -> IdAssignment | None:
    stored = catalog.load_assignment(carebridge.engine)
    if stored is None:
        return None
    id_map, retired = stored
    return IdAssignment(map=id_map, retired=retired).normalised()


def _run_label(run_id: str) -> str:
    """Sorts in time order (person ids prefer the earliest-seen id), and names the Dagster run."""
    return f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {run_id}"


def _run_record(run: str, run_id: str, months: list[str], index, model) -> pa.Table:
    """One row of linkage.linkage_run: what this run linked with (model, training, counts)."""
    return pa.table({
        "run": [run], "run_id": [run_id],
        "months": [",".join(months)], "model": [json.dumps(model.declared, sort_keys=True)],
        "parameters": [json.dumps(index.scored.parameters, sort_keys=True, default=str)],
        "training": [json.dumps(index.scored.training, sort_keys=True, default=str)],
        "summary": [json.dumps({**index.summary(), "bands": index.bands}, sort_keys=True)],
    })


def _write_charts(carebridge: CarebridgeResource, charts: dict[str, str]) -> dict[str, str]:
    folder = carebridge.layout.linkage_charts
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, html in charts.items():
        path = folder / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        paths[name] = str(path)
    return paths


def _months(staged_tables: dict[str, pa.Table]) -> list[str]:
    return sorted({m for t in staged_tables.values() if "reporting_month" in t.column_names
                   for m in t["reporting_month"].unique().to_pylist() if m})


def _save(engine, index, record: pa.Table, run_id: str) -> list[str]:
    """The index, the id assignment, the review queue, this run's record and (tidy) its figures
    (published.data_quality_linkage reads them on any engine); the tables the index lives in."""
    catalog.save_person_index(engine, index.links, index.persons)
    catalog.save_assignment(engine, index.assignment.map, index.assignment.retired)
    catalog.save_reviews(engine, index.queue)
    catalog.append_run(engine, record)
    catalog.save_summary(engine, summary_table(run_id, index.summary()))
    return catalog.INDEX_TABLES


def _metadata(index, decisions: pa.Table | None, charts: dict[str, str]) -> dict:
    summary = index.summary()
    return {**summary, "summary": counts_table(summary, "measure", "count"),
            "matches_by_band": counts_table(index.bands, "confidence band", "records matched"),
            "training": dg.MetadataValue.json(index.scored.training),
            "retired_ids": index.assignment.retired.num_rows,
            "decisions_honoured": 0 if decisions is None else decisions.num_rows,
            **{f"chart_{name}": dg.MetadataValue.path(path) for name, path in charts.items()}}


def _checks(index, previous: IdAssignment | None) -> list[dg.AssetCheckResult]:
    keys = index.links.select(["source", "provider_ods", "local_patient_id"])
    distinct = keys.group_by(keys.column_names).aggregate([]).num_rows
    lost = lost_ids(previous, index.assignment)
    return [dg.AssetCheckResult(check_name="one_person_per_record", passed=distinct == keys.num_rows,
                                metadata={"records": keys.num_rows, "distinct_records": distinct}),
            dg.AssetCheckResult(check_name="no_person_id_lost", passed=not lost, metadata={"lost_ids": len(lost)})]


@dg.asset(deps=[staged], group_name="linkage", kinds={"duckdb", "splink"}, pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec("one_person_per_record", asset="person_index", blocking=True),
                       dg.AssetCheckSpec("no_person_id_lost", asset="person_index", blocking=True,
                                         description="every person id of the last run is still live or retired to one")])
def person_index(context: dg.AssetExecutionContext, carebridge: CarebridgeResource,
                 spark: SparkResource) -> dg.MaterializeResult:
    """Links the records of one person across GP, trust, Talking Therapies and VCSE extracts: on a
    valid NHS number, then probabilistically (Splink, Fellegi-Sunter; `carebridge/linkage/probabilistic.yaml`)
    on name, birth date, sex and postcode, for every record (an NHS number is evidence: a record whose
    demographics contradict its NHS number's group is held apart). What needs a person goes to
    `linkage.linkage_review` (`carebridge linkage review`); decisions in
    `linkage.linkage_decision` are honoured every run. Person ids carry over from the last run
    (`linkage.person_id_map`); merged ids are kept in `linkage.person_id_retired`."""
    engine = carebridge.engine
    decisions = catalog.load_decisions(engine)
    gate = open_gate(engine, "person_index", recorded_fingerprints(engine, "staged"), table_digest(decisions))
    if gate.unchanged:
        return gate.replayed()
    staged_tables = load_staged(engine, staged_table_keys())
    model, previous = default_model(), _previous_assignment(carebridge)
    run = _run_label(context.run_id)
    index = build_person_index(staged_tables, linker=spark.linker(carebridge, model), previous=previous, run=run, model=model,
                               decisions=decisions)
    record = _run_record(run, context.run_id, _months(staged_tables), index, model)
    written = _save(engine, index, record, context.run_id)
    charts = _write_charts(carebridge, index.scored.charts)
    result = dg.MaterializeResult(metadata={**_metadata(index, decisions, charts), **gate.metadata()},
                                  check_results=_checks(index, previous))
    return gate.record(context.run_id, [result], {"tables": written})[0]
