"""Linkage asset: the person index across all four sources."""


import dagster as dg

from linkage import build_person_index
from pipelines.metadata import counts_table
from pipelines.resources import CarebridgeResource
from pipelines.staging_assets import staged
from staging import staged_table_keys
from warehouse.store import load_staged, save_person_index


@dg.asset(deps=[staged], group_name="linkage", kinds={"duckdb"},
          check_specs=[dg.AssetCheckSpec("one_person_per_record", asset="person_index", blocking=True)])
def person_index(carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Links the records of one person across GP, trust, Talking Therapies and VCSE extracts on a
    valid NHS number. Records without one stay separate people (counted as `records_unlinked`)
    until probabilistic linkage. Person ids are stable across re-runs."""
    staged_tables = load_staged(carebridge.engine, staged_table_keys())
    index = build_person_index(staged_tables)
    save_person_index(carebridge.engine, index.links, index.persons)
    keys = index.links.select(["source", "provider_ods", "local_patient_id"])
    distinct = keys.group_by(keys.column_names).aggregate([]).num_rows
    summary = index.summary()
    return dg.MaterializeResult(
        metadata={**summary, "summary": counts_table(summary, "measure", "count")},
        check_results=[dg.AssetCheckResult(check_name="one_person_per_record", passed=distinct == keys.num_rows,
                                           metadata={"records": keys.num_rows, "distinct_records": distinct})])
