"""Staging assets: each month's deliveries, then one current view across months."""

from collections import Counter


import dagster as dg

from pipelines.metadata import counts_table
from pipelines.partitions import MONTHS
from pipelines.quality import gx_check_results, gx_check_specs
from pipelines.spark_resource import SparkResource
from pipelines.resources import WAREHOUSE_POOL, CarebridgeResource
from carebridge.staging import consolidate, load_month, reconcile, save_month, stage_landing, staged_table_keys
from carebridge.staging.landing import Scan, restrict, scan
from pipelines.incremental import code_version, digest, file_gate, files_digest, open_gate
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
    per_month, rows_by_table = {}, Counter()
    found = scan(carebridge.landing)    # one walk of the landing area for every month's fingerprint
    for month in context.partition_keys:
        per_month[month] = _stage_month(carebridge, spark, month, rows_by_table, context.run_id, found)
        if not per_month[month]["files"]:
            context.log.warning(f"{month}: no delivery files under {carebridge.landing}; the month is staged empty")
    return dg.MaterializeResult(metadata=_months_metadata(per_month, rows_by_table))


def _month_fingerprint(landing, month: str, found: Scan) -> str:
    """What staging one month reads: its delivery files (content), what the landing scan (`found`)
    refuses or ignores for it, the deployment's reference data, and the code."""
    files, ignored = restrict(found, [month])
    refused = sorted((i.source_file, i.status, i.reason, i.detail) for i in ignored)
    return digest(code_version(), files_digest([f.path for f in files], landing), refused,
                  files_digest([landing / "reference"], landing))


def _stage_month(carebridge: CarebridgeResource, spark: SparkResource, month: str, rows_by_table: Counter, run_id: str,
                 found: Scan) -> dict[str, int]:
    """Stage one month into its folder (unless its deliveries are unchanged since it was staged); its
    accounting (rows by table are added to `rows_by_table`)."""
    folder = carebridge.layout.staging_month(month)
    gate = file_gate(folder, f"staged_month {month}", _month_fingerprint(carebridge.landing, month, found))
    if gate.unchanged:
        rows_by_table.update(gate.recorded["outcome"]["rows_by_table"])
        return {**gate.recorded["outcome"]["counts"], "unchanged": 1}
    result = stage_landing(carebridge.landing, months=[month], file_map=spark.file_map(carebridge))
    save_month(result, folder)
    summary = result.summary()
    counts = {"files": summary.get("files", result.load_audit.num_rows), "rows_staged": summary.get("rows_staged", 0),
              "rows_quarantined": summary.get("rows_quarantined", 0)}
    tables = {name: table.num_rows for name, table in result.tables.items()}
    rows_by_table.update(tables)
    gate.record(run_id, outcome={"counts": counts, "rows_by_table": tables})
    return {**counts, "unchanged": 0}


def _months_metadata(per_month: dict[str, dict[str, int]], rows_by_table: Counter) -> dict:
    empty = [m for m, c in per_month.items() if not c["files"]]
    return {"months": ", ".join(sorted(per_month)),
            **{k: sum(c[k] for c in per_month.values()) for k in ("files", "rows_staged", "rows_quarantined")},
            "months_without_files": ", ".join(empty) or "none", "by_month": _month_accounting(per_month),
            "months_unchanged": ", ".join(sorted(m for m, c in per_month.items() if c["unchanged"])) or "none",
            "staged_rows_by_table": counts_table(dict(rows_by_table))}


def staged_months(months_dir) -> list[str]:
    """The months staged so far (one folder each)."""
    return sorted(p.name for p in months_dir.iterdir()) if months_dir.exists() else []


def _staged_metadata(months: list[str], result) -> dict:
    reasons = result.quarantine.group_by("reason_code").aggregate([("reason_code", "count")]).to_pylist()
    return {"months": ", ".join(months), "rows_staged": result.summary().get("rows_staged", 0),
            "rows_quarantined": result.quarantine.num_rows,
            "quarantine_by_reason": counts_table({r["reason_code"]: r["reason_code_count"] for r in reasons}, "reason"),
            "staged_rows_by_table": counts_table({k: t.num_rows for k, t in result.tables.items()})}


def _staged_checks(carebridge: CarebridgeResource, result) -> list[dg.AssetCheckResult]:
    problems = reconcile(result.load_audit)
    checks = [dg.AssetCheckResult(check_name="row_accounting", passed=not problems,
                                  metadata={"files": result.load_audit.num_rows, "problems": "\n".join(problems[:20])})]
    tables = {k: result.tables[k] for k in staged_table_keys() if k in result.tables}
    return checks + gx_check_results(carebridge.layout.gx, "staged", tables)


@dg.asset(deps=[staged_month], group_name=STAGING, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec("row_accounting", asset="staged", blocking=True,
                                         description="rows read = staged + quarantined + superseded, per file"),
                       *gx_check_specs("staged", "staged")])
def staged(context: dg.AssetExecutionContext, carebridge: CarebridgeResource) -> dg.MaterializeResult:
    """One record per (provider, local id) across all staged months: the latest month's version
    wins. Writes `staging.stg_*`, `audit.quarantine` and `audit.load_audit` (warehouse.catalog)."""
    months = staged_months(carebridge.layout.staging_months)
    gate = open_gate(carebridge.engine, "staged", files_digest([carebridge.layout.staging_months]))
    if gate.unchanged:
        return gate.replayed({"months": ", ".join(months)})
    result = consolidate([load_month(carebridge.layout.staging_month(m)) for m in months])
    written = save_staged(carebridge.engine, result.tables, result.quarantine, result.load_audit)
    return gate.record(context.run_id, [dg.MaterializeResult(
        metadata={**_staged_metadata(months, result), **gate.metadata()},
        check_results=_staged_checks(carebridge, result))], {"tables": written})[0]
