"""Every call into Great Expectations (GX Core 1.x) lives here, so a GX upgrade touches one file.

One table is validated by up to two GX suites, `<layer>.<table>` and
`<layer>.<table>.identifiable`; each has its own pandas dataframe asset, validation definition and
checkpoint of the same name, all replaced (add-or-update) on every run. A file-mode context keeps
suites and validation results under the caller's folder so Data Docs can show a whole run; several
processes may validate into the same folder, so a file lock serialises them.
"""

from __future__ import annotations

import fcntl
import math
import operator
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import reduce
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.registry import get_expectation_impl
from great_expectations.expectations.row_conditions import Column, Condition

from expectations.plan import Check

__all__ = ["GxResult", "open_context", "ensure_site", "build_expectation", "run_checks", "examples_at",
           "build_data_docs"]

_DATASOURCE = "carebridge"
_SPARK_DATASOURCE = "carebridge_spark"  # Spark DataFrames (GX's Spark execution engine)
_BATCH_DEFINITION = "whole_table"
_DEFAULT_SITE = "local_site"
_GX_SEVERITY = {"error": "critical", "warning": "warning"}
_CHECK_KEY = "carebridge_check"


@dataclass(frozen=True)
class GxResult:
    """What GX said about one check: counts, a few distinct unexpected values, or why it broke."""

    key: str
    success: bool
    unexpected_count: int | None
    examples: tuple[Any, ...]
    error: str | None
    unexpected_rows: tuple[int, ...] = ()  # dataframe index of the first unexpected rows


# --- context -------------------------------------------------------------------------------------

@contextmanager
def open_context(context_root: Path | None) -> Iterator[Any]:
    """A GX context: file mode rooted at `context_root` (held under a lock), or ephemeral if None."""
    if context_root is None:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        yield context
        return
    root = Path(context_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".carebridge.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            context = gx.get_context(mode="file", context_root_dir=str(root))
            _quiet(context)
            yield context
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _quiet(context: Any) -> None:
    """No progress bars on stderr, and no default site beside the one carebridge configures."""
    changed = False
    bars = context.variables.progress_bars  # an object when set in-process, a dict when read from disk
    globally = bars.get("globally", True) if isinstance(bars, Mapping) else getattr(bars, "globally", True)
    if bars is None or globally:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        changed = True
    if _DEFAULT_SITE in context.list_data_docs_sites():
        context.delete_data_docs_site(_DEFAULT_SITE)
        changed = True
    if changed:
        context.variables.save()


def ensure_site(context: Any, site_name: str, site_dir: Path) -> None:
    """Point the Data Docs site `site_name` at `site_dir` (checkpoints then update it as they run)."""
    config = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
              "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                "base_directory": str(Path(site_dir).resolve())},
              "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    sites = context.list_data_docs_sites()
    if site_name not in sites:
        context.add_data_docs_site(site_name, config)
    elif sites[site_name] != config:
        context.update_data_docs_site(site_name, config)


# --- expectations --------------------------------------------------------------------------------

def _row_condition(where: Mapping[str, Sequence[Any]]) -> Condition | None:
    """`{column: values, ...}` as a GX row condition: every column holds one of its values."""
    conditions = [Column(column).is_in(list(values)) for column, values in where.items()]
    return reduce(operator.and_, conditions) if conditions else None


def build_expectation(check: Check) -> Expectation:
    """The GX expectation object for a check (raises if the name or a kwarg is not GX's)."""
    expectation_class = get_expectation_impl(check.gx_expectation)
    extra: dict[str, Any] = {}
    condition = _row_condition(check.where)
    if condition is not None:
        extra["row_condition"] = condition
    meta = {_CHECK_KEY: check.key, "declared_as": check.spec.expectation}
    if check.label:
        meta["label"] = check.label
    return expectation_class(**check.kwargs, **extra, severity=_GX_SEVERITY[check.spec.severity],
                             notes=check.spec.why, meta=meta)


# --- running -------------------------------------------------------------------------------------

def _batch_definition(context: Any, asset_name: str, spark: bool = False) -> Any:
    """The suite's whole-dataframe batch, on GX's pandas datasource or (a Spark DataFrame, which
    GX's Spark execution engine validates on the cluster) its Spark datasource."""
    sources = context.data_sources
    name = _SPARK_DATASOURCE if spark else _DATASOURCE
    if name in sources.all():
        source = sources.get(name)
    else:
        source = sources.add_spark(name) if spark else sources.add_pandas(name)
    asset = (source.get_asset(asset_name) if asset_name in source.get_asset_names()
             else source.add_dataframe_asset(asset_name))
    existing = {bd.name: bd for bd in asset.batch_definitions}
    return existing.get(_BATCH_DEFINITION) or asset.add_batch_definition_whole_dataframe(_BATCH_DEFINITION)


def _result_format(examples: int) -> dict[str, Any]:
    if examples <= 0:
        return {"result_format": "BASIC", "partial_unexpected_count": 0}
    return {"result_format": "SUMMARY", "partial_unexpected_count": examples}


def run_checks(context: Any, suite_name: str, checks: Sequence[Check], frame: pd.DataFrame | Any, *,
               examples: int, site_name: str | None = None) -> list[GxResult]:
    """Run `checks` on `frame` as the GX suite `suite_name` through a checkpoint of the same name.

    `examples` = 0 keeps every unexpected value out of GX's stored results (counts only).
    """
    suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=suite_name, expectations=[build_expectation(c) for c in checks]))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=_batch_definition(context, suite_name, not isinstance(frame, pd.DataFrame)),
                                suite=suite))
    actions = [gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=[site_name])] if site_name else []
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(name=suite_name, validation_definitions=[validation], actions=actions,
                      result_format=_result_format(examples)))
    parameters = {name: values for c in checks for name, values in c.parameters.items()}
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters)
    (validation_result,) = outcome.run_results.values()
    return [_to_result(r, examples) for r in validation_result.results]


def _to_result(result: ExpectationValidationResult, examples: int) -> GxResult:
    details = result.result or {}
    error = _error_message(result)
    shown = examples > 0
    return GxResult(key=result.expectation_config.meta[_CHECK_KEY], success=bool(result.success),
                    unexpected_count=details.get("unexpected_count"),
                    examples=_examples(details.get("partial_unexpected_list"), examples) if shown else (),
                    error=error,
                    unexpected_rows=tuple(details.get("partial_unexpected_index_list") or ()) if shown else ())


def _error_message(result: ExpectationValidationResult) -> str | None:
    info = result.exception_info or {}
    if not info:
        return None
    # GX keys exception details by metric when a metric fails, or gives them flat.
    details = info if "exception_message" in info else next(iter(info.values()), {})
    if not isinstance(details, Mapping) or not details.get("raised_exception", True):
        return None
    message = str(details.get("exception_message") or "the expectation raised an error")
    return message.splitlines()[0][:200]


def _examples(values: Sequence[Any] | None, limit: int) -> tuple[Any, ...]:
    """At most `limit` distinct, JSON-friendly values (nulls dropped: they say nothing)."""
    distinct: dict[str, Any] = {}
    for value in map(_plain_value, values or ()):
        if value is not None:
            distinct.setdefault(repr(value), value)  # repr: lists and dicts are not hashable
    return tuple(distinct.values())[:limit]


def examples_at(frame: pd.DataFrame, column: str, rows: Sequence[int], limit: int) -> tuple[Any, ...]:
    """The values of `column` at the given dataframe rows, as `_examples` shows them."""
    return _examples(frame.loc[list(rows), column].tolist(), limit)


def _plain_value(value: Any) -> Any:
    """JSON-friendly form of an unexpected value (dates as ISO text, pairs as lists, NaN as None)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_plain_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain_value(value.item())
    return value


# --- Data Docs -----------------------------------------------------------------------------------

def build_data_docs(context_root: Path, site_dir: Path, site_name: str) -> Path:
    """Build the Data Docs site for every suite and validation result kept under `context_root`."""
    with open_context(context_root) as context:
        ensure_site(context, site_name, site_dir)
        context.build_data_docs(site_names=[site_name])
    return Path(site_dir).resolve() / "index.html"
