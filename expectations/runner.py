"""Validate a table against its suite: the carebridge API over Great Expectations (no Dagster).

    result = validate_table("analytics", "referral", referral, related={"analytics.person": person},
                            context_root=out / "gx")
    result.passed_errors, result.warnings, result.to_metadata()
    build_data_docs(out / "gx", out / "data_docs")   # -> out/data_docs/index.html

Error-severity failures fail `passed_errors`; warning failures are counted in `warnings` only.
Unexpected examples (at most a few distinct values) are never shown for identifiable columns
(settings.yaml): those expectations run in a separate GX suite that keeps counts only, so no
patient data reaches GX's stored results, Data Docs, Dagster metadata or logs.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from expectations import gx_runner, offline_docs
from expectations.config import settings
from expectations.plan import EXTENSIONS, Check, build_plan
from expectations.spec import ExpectationSpec, Severity, SuiteSpec, list_suites, load_suite, spec_columns

__all__ = ["ExpectationOutcome", "TableValidation", "SuiteSpec", "load_suite", "list_suites",
           "validate_table", "build_data_docs"]


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result. `check` says what an extension checked (e.g. `multiple of 5`)."""

    expectation: str
    column: str | None
    severity: Severity
    success: bool
    unexpected_count: int | None
    unexpected_examples: tuple[Any, ...]
    why: str
    check: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "column": self.column, "severity": self.severity,
                "check": self.check, "unexpected_count": self.unexpected_count,
                "unexpected_examples": list(self.unexpected_examples), "why": self.why, "error": self.error}


@dataclass(frozen=True)
class TableValidation:
    suite: str
    evaluated_rows: int
    results: list[ExpectationOutcome]

    @property
    def failed_errors(self) -> int:
        return sum(1 for r in self.results if not r.success and r.severity == "error")

    @property
    def warnings(self) -> int:
        """How many warning-severity expectations failed."""
        return sum(1 for r in self.results if not r.success and r.severity == "warning")

    @property
    def passed_errors(self) -> bool:
        """True when no error-severity expectation failed (warnings do not count)."""
        return self.failed_errors == 0

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON-able values for Dagster asset-check metadata (no identifiable values)."""
        return {"suite": self.suite, "evaluated_rows": self.evaluated_rows,
                "expectations": len(self.results), "passed_errors": self.passed_errors,
                "failed_errors": self.failed_errors, "warnings": self.warnings,
                "failures": [r.to_dict() for r in self.results if not r.success]}


def validate_table(layer: str, table: str, data: pa.Table | pd.DataFrame | Any,
                   related: Mapping[str, pa.Table] | None = None, *, context_root: Path | None = None,
                   site_dir: Path | None = None) -> TableValidation:
    """Validate `data` (Arrow, pandas, or a Spark DataFrame) against suite `layer`/`table`.

    `related` holds the tables foreign keys point at, keyed `"<layer>.<table>"` or `"<table>"`.
    `context_root` is the GX file-mode context folder (results accumulate there for Data Docs);
    None runs in an ephemeral context that keeps nothing. With `site_dir`, each validation also
    updates that Data Docs site as it runs. A Spark DataFrame stays on the cluster: GX's Spark
    datasource runs every check on the table's own columns there; only the columns carebridge's
    extensions derive new columns from are collected, and their checks run on pandas.
    """
    suite, cfg = load_suite(layer, table), settings()
    spark = _is_spark(data)
    if spark:
        arrow = data.select(*_extension_columns(suite, data.columns)).toArrow()
    else:
        arrow = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    plan = build_plan(suite, arrow, related, cfg.foreign_key_value_set_limit)
    runnable = [c for c in plan.checks if c.error is None]
    hidden = {c.key for c in runnable if _touches_identifiable(c, cfg.identifiable_columns)}
    on_spark = {c.key for c in runnable if spark and set(c.columns) <= set(data.columns)}
    frame = _to_pandas(plan.data, {col for c in runnable if c.key not in on_spark for col in c.columns})
    groups = {}
    for name, examples, keep in ((suite.name, cfg.unexpected_examples, lambda c: c.key not in hidden),
                                 (f"{suite.name}.identifiable", 0, lambda c: c.key in hidden)):
        checks = [c for c in runnable if keep(c)]
        groups[name] = ([c for c in checks if c.key not in on_spark], examples, frame)
        if spark:
            used = sorted({col for c in checks if c.key in on_spark for col in c.columns})
            groups[f"{name}.spark"] = ([c for c in checks if c.key in on_spark], examples, data.select(*used))
    results = _run_groups(groups, context_root, site_dir)
    outcomes = [_outcome(c, results.get(c.key), frame, c.key in hidden, cfg.unexpected_examples)
                for c in plan.checks]
    rows = data.count() if spark else plan.data.num_rows
    return TableValidation(suite=suite.name, evaluated_rows=rows, results=outcomes)


def _is_spark(data: Any) -> bool:
    """A Spark DataFrame (classic or Connect), recognised without importing pyspark."""
    return hasattr(data, "sparkSession") and hasattr(data, "toArrow")


def _extension_columns(suite: SuiteSpec, present: Sequence[str]) -> list[str]:
    """The columns carebridge's extensions (expectations.plan.EXTENSIONS) read: the only ones a
    Spark table's validation collects to the driver."""
    wanted = {c for spec in suite.expectations if spec.expectation in EXTENSIONS for c in spec_columns(spec)}
    return [c for c in present if c in wanted]


def build_data_docs(context_root: Path, site_dir: Path) -> Path:
    """Write the Data Docs site for every validation kept under `context_root`, self-contained so it
    opens offline (expectations.offline_docs); returns index.html."""
    index = gx_runner.build_data_docs(Path(context_root), Path(site_dir), settings().data_docs_site_name)
    try:
        offline_docs.make_offline(Path(site_dir))
    except offline_docs.MissingAssets as error:
        warnings.warn(f"Data Docs need the network to display: {error}", stacklevel=2)
    return index


def _run_groups(groups: Mapping[str, tuple[list[Check], int, Any]], context_root: Path | None,
                site_dir: Path | None) -> dict[str, gx_runner.GxResult]:
    """Run each non-empty group of checks as its own GX suite (name -> (checks, examples shown,
    the pandas or Spark DataFrame it validates))."""
    site_name = settings().data_docs_site_name if site_dir is not None else None
    results: dict[str, gx_runner.GxResult] = {}
    with gx_runner.open_context(context_root) as context:
        if site_name:
            gx_runner.ensure_site(context, site_name, Path(site_dir))
        for name, (checks, examples, frame) in groups.items():
            if checks:
                for result in gx_runner.run_checks(context, name, checks, frame, examples=examples,
                                                   site_name=site_name):
                    results[result.key] = result
    return results


def _touches_identifiable(check: Check, identifiable: frozenset[str]) -> bool:
    return any(c in identifiable for c in (*check.columns, *_declared_columns(check.spec)))


def _to_pandas(data: pa.Table, columns: set[str]) -> pd.DataFrame:
    """The one Arrow -> pandas conversion per table, of the columns the checks read.

    A column the table lacks is left out: GX then reports that expectation as failed.
    """
    present = [c for c in data.column_names if c in columns]
    if not present:
        return pd.DataFrame(index=pd.RangeIndex(data.num_rows))
    return data.select(present).to_pandas()


def _declared_columns(spec: ExpectationSpec) -> Sequence[str]:
    kwargs = spec.kwargs
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return list(kwargs.get("column_list", ()))


def _examples(check: Check, result: gx_runner.GxResult, frame: pd.DataFrame, limit: int) -> tuple[Any, ...]:
    """GX's examples, except that a check on a derived column shows the original column's values."""
    if check.example_column is None or not result.unexpected_rows:
        return result.examples
    return gx_runner.examples_at(frame, check.example_column, result.unexpected_rows, limit)


def _error(check: Check, result: gx_runner.GxResult | None, identifiable: bool) -> str | None:
    if check.error or result is None:
        return check.error or "no result from Great Expectations"
    if result.error and identifiable:
        return "the expectation raised an error (detail withheld: identifiable column)"
    return result.error


def _outcome(check: Check, result: gx_runner.GxResult | None, frame: pd.DataFrame, identifiable: bool,
             limit: int) -> ExpectationOutcome:
    spec = check.spec
    return ExpectationOutcome(
        expectation=spec.expectation, column=", ".join(_declared_columns(spec)) or None,
        severity=spec.severity, success=bool(result and result.success and not check.error),
        unexpected_count=result.unexpected_count if result else None,
        unexpected_examples=_examples(check, result, frame, limit) if result else (),
        why=spec.why, check=check.label, error=_error(check, result, identifiable))
