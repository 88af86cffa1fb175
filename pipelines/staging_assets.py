"""Staging assets: each month's deliveries, then one current view across months."""


import dagster as dg

from pipelines.metadata import counts_table
from pipelines.partitions import MONTHLY
from pipelines.quality import gx_check_results, gx_check_specs
from pipelines.resources import CarebridgeResource
from carebridge.staging import consolidate, load_month, reconcile, save_month, stage_landing, staged_table_keys
from warehouse.catalog.staging import save_staged

STAGING = "staging"


@dg.asset(partitions_def=MONTHLY, group_name=STAGING, kinds={"python", "parquet"})
def staged_month(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """Reads, types and validates every delivery of one reporting month (latest submission per
    provider wins) and keeps the month's staged rows, quarantine and file audit. Re-running a
    month replaces it."""
    month = context.partition_key
    result = stage_landing(carebridge.landing, months=[month])
    save_month(result, carebridge.layout.staging_month(month))
    summary = result.summary()
    return dg.MaterializeResult(metadata={
        "files": summary.get("files", result.load_audit.num_rows),
        "rows_staged": summary.get("rows_staged", 0),
        "rows_quarantined": summary.get("rows_quarantined", 0),
        "staged_rows_by_table": counts_table({k: t.num_rows for k, t in result.tables.items()}),
    })


@dg.asset(deps=[staged_month], group_name=STAGING, kinds={"duckdb"},
          check_specs=[dg.AssetCheckSpec("row_accounting", asset="staged", blocking=True,
                                         description="rows read = staged + quarantined + superseded, per file"),
                       *gx_check_specs("staged", "staged")])
def staged(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """One record per (provider, local id) across all staged months: the latest month's version
    wins. Writes `staging.stg_*`, `audit.quarantine` and `audit.load_audit` (warehouse.catalog)."""
    months_dir = carebridge.layout.staging_months
    months = sorted(p.name for p in months_dir.iterdir()) if months_dir.exists() else []
    result = consolidate([load_month(months_dir / m) for m in months])
    save_staged(carebridge.engine, result.tables, result.quarantine, result.load_audit)
    problems = reconcile(result.load_audit)
    summary = result.summary()
    reasons = result.quarantine.group_by("reason_code").aggregate([("reason_code", "count")]).to_pylist()
    checks = [dg.AssetCheckResult(check_name="row_accounting", passed=not problems,
                                  metadata={"files": result.load_audit.num_rows, "problems": "\n".join(problems[:20])})]
    checks += gx_check_results(carebridge.layout.gx, "staged", {k: result.tables[k] for k in staged_table_keys() if k in result.tables})
    return dg.MaterializeResult(
        metadata={
            "months": ", ".join(months),
            "rows_staged": summary.get("rows_staged", 0),
            "rows_quarantined": result.quarantine.num_rows,
            "quarantine_by_reason": counts_table({r["reason_code"]: r["reason_code_count"] for r in reasons}, "reason"),
            "staged_rows_by_table": counts_table({k: t.num_rows for k, t in result.tables.items()}),
        },
        check_results=checks)
