"""Staging assets: each month's deliveries, then one current view across months."""


import dagster as dg

from pipelines.metadata import counts_table
from pipelines.partitions import MONTHS
from pipelines.quality import gx_check_results, gx_check_specs
from pipelines.spark_resource import SparkResource
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from carebridge.staging import consolidate, load_month, reconcile, save_month, stage_landing, staged_table_keys
from warehouse.catalog.staging import save_staged

STAGING = "staging"


def _month_accounting(per_month: dict[str, dict[str, int]]) -> dg.MetadataValue:
    columns = ("files", "rows_staged", "rows_quarantined")
    lines = ["| month | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {m} | " + " | ".join(f"{c[k]:,}" for k in columns) + " |" for m, c in sorted(per_month.items())]
    return dg.MetadataValue.md("\n".join(lines))


@dg.asset(partitions_def=MONTHS, backfill_policy=dg.BackfillPolicy.single_run(), group_name=STAGING,
          kinds={"python", "parquet"})
def staged_month(context: dg.AssetExecutionContext, carebridge: CarebridgeResource,
                 spark: SparkResource) -> dg.MaterializeResult:
    """Reads, types and validates every delivery of its reporting months (latest submission per
    provider wins) and keeps each month's staged rows, quarantine and file audit. Re-running a
    month replaces it. A backfill of N months is one run; its metadata accounts for each month.
    Does not open the warehouse, so staging runs go side by side."""
    per_month: dict[str, dict[str, int]] = {}
    rows_by_table: dict[str, int] = {}
    for month in context.partition_keys:
        result = stage_landing(carebridge.landing, months=[month], file_map=spark.file_map(carebridge))
        save_month(result, carebridge.layout.staging_month(month))
        summary = result.summary()
        per_month[month] = {"files": summary.get("files", result.load_audit.num_rows),
                            "rows_staged": summary.get("rows_staged", 0),
                            "rows_quarantined": summary.get("rows_quarantined", 0)}
        for name, table in result.tables.items():
            rows_by_table[name] = rows_by_table.get(name, 0) + table.num_rows
        if not per_month[month]["files"]:
            context.log.warning(f"{month}: no delivery files under {carebridge.landing}; the month is staged empty")
    empty = [m for m, c in per_month.items() if not c["files"]]
    return dg.MaterializeResult(metadata={
        "months": ", ".join(sorted(per_month)),
        "files": sum(c["files"] for c in per_month.values()),
        "rows_staged": sum(c["rows_staged"] for c in per_month.values()),
        "rows_quarantined": sum(c["rows_quarantined"] for c in per_month.values()),
        "months_without_files": ", ".join(empty) or "none",
        "by_month": _month_accounting(per_month),
        "staged_rows_by_table": counts_table(rows_by_table),
    })


@dg.asset(deps=[staged_month], group_name=STAGING, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
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
