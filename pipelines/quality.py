"""Great Expectations results as Dagster asset checks: one check per validated table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from expectations.spec import list_suites  # the suites' names only: Great Expectations loads when a check runs


def check_name(layer: str, table: str) -> str:
    return f"gx_{layer}_{table}".replace(".", "_").lower()


def gx_check_specs(asset: str, layer: str, blocking: bool = True) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(check_name(layer, t), asset=asset, blocking=blocking,
                              description=f"Great Expectations suite {layer}/{t}")
            for t in list_suites(layer)]


def gx_table_check_specs(layer: str, keys: dict[str, dg.AssetKey]) -> list[dg.AssetCheckSpec]:
    """One blocking check per suite of `layer` on the asset of its table (`keys`: table -> asset)."""
    return [dg.AssetCheckSpec(check_name(layer, t), asset=keys[t], blocking=True,
                              description=f"Great Expectations suite {layer}/{t}")
            for t in list_suites(layer) if t in keys]


def _spark_tables(engine: Any, layer: str) -> Callable[[str], Any] | None:
    """On a Spark warehouse: a table's Spark DataFrame (`<layer>.<name>`), which GX validates on the
    cluster (expectations.runner); None on the other engines."""
    if engine is None:
        return None
    from warehouse.engines import backend

    session = getattr(backend(engine), "session", None)
    return None if session is None else (lambda name: session.table(f"{layer}.{name}"))


def gx_check_results(gx_root: Path, layer: str, tables: dict[str, pa.Table],
                     related: dict[str, pa.Table] | None = None,
                     keys: dict[str, dg.AssetKey] | None = None, engine: Any = None) -> list[dg.AssetCheckResult]:
    """Validate every table that has a suite; errors fail the check (ERROR), warnings are WARN.
    With `keys` (table -> asset), only the suites of those tables, each result on its table's asset.
    With a Spark `engine`, each table is validated as its Spark DataFrame (`<layer>.<table>`)."""
    on_spark = _spark_tables(engine, layer)
    results = []
    for name in list_suites(layer):
        if keys is not None and name not in keys:
            continue
        target = {} if keys is None else {"asset_key": keys[name]}
        data = tables.get(name)
        if data is None:
            results.append(dg.AssetCheckResult(check_name=check_name(layer, name), passed=False,
                                               severity=dg.AssetCheckSeverity.ERROR, **target,
                                               metadata={"reason": f"table {name} was not produced"}))
            continue
        from expectations.runner import validate_table

        outcome = validate_table(layer, name, data if on_spark is None else on_spark(name), related=related,
                                 context_root=gx_root)
        severity = dg.AssetCheckSeverity.ERROR if not outcome.passed_errors else dg.AssetCheckSeverity.WARN
        results.append(dg.AssetCheckResult(
            check_name=check_name(layer, name), **target,
            passed=outcome.passed_errors and outcome.warnings == 0,
            severity=severity,
            metadata=outcome.to_metadata()))
    return results
