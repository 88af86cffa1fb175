"""Run the Dagster jobs in process: every staged month, then the build, with progress lines."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines import build_definitions
from pipelines.progress import set_reporter
from pipelines.resources import CarebridgeResource, dispose_engines
from pipelines.sensors import delivery_folders

__all__ = ["RunOutcome", "PipelineError", "landing_months", "run_pipeline", "rebuild_assets"]


class PipelineError(RuntimeError):
    """The pipeline could not run or a blocking check failed: a one-line reason for the user."""


@dataclass
class RunOutcome:
    months: list[str]
    warehouse_url: str
    out: Path
    rows_quarantined: int = 0
    files_rejected: int = 0
    warnings: list[str] = field(default_factory=list)


def landing_months(landing: Path) -> list[str]:
    return sorted({Path(f).parts[2] for f in delivery_folders(landing)})


def _instance() -> dg.DagsterInstance:
    """The user's Dagster instance when DAGSTER_HOME is set (runs then show in `dagster dev`), else a throwaway one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _failed_checks(result: dg.ExecuteInProcessResult) -> tuple[list[str], list[str]]:
    """Blocking (ERROR) and warning check failures of a finished run."""
    errors, warnings = [], []
    for event in result.all_events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        evaluation = event.event_specific_data
        if evaluation.passed:
            continue
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        (errors if evaluation.severity == dg.AssetCheckSeverity.ERROR else warnings).append(name)
    return errors, warnings


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            while cause.cause is not None:
                cause = cause.cause
            return f"{event.step_key}: {cause.message.strip().splitlines()[-1]}"
    return "the run failed"


def _prune_months(out: Path, months: list[str]) -> None:
    """Forget staged months whose deliveries are no longer in the landing area."""
    months_dir = out / "staging" / "months"
    if months_dir.exists():
        for stale in (p for p in months_dir.iterdir() if p.name not in months):
            shutil.rmtree(stale)


def _run_config(log_level: str) -> dict:
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def _resource(landing: Path, out: Path, warehouse_url: str, key_file: Path | None,
              strict: bool = False) -> CarebridgeResource:
    return CarebridgeResource(landing_dir=str(landing.resolve()), out_dir=str(out.resolve()),
                              warehouse_url=warehouse_url, key_file=str(key_file) if key_file else "",
                              strict_validation=strict)


def _checked_build(defs: dg.Definitions, instance: dg.DagsterInstance, log_level: str,
                   assets: Sequence[str] | None = None) -> list[str]:
    """Run the build job (or some of its assets); raise on a blocking check or a failed step,
    else return the checks that only warned."""
    selection = [dg.AssetKey(name) for name in assets] if assets else None
    result = defs.resolve_job_def("build").execute_in_process(
        instance=instance, raise_on_error=False, run_config=_run_config(log_level), asset_selection=selection)
    errors, warnings = _failed_checks(result)
    if errors:
        raise PipelineError(f"blocking check failed: {', '.join(errors)}")
    if not result.success:
        raise PipelineError(_first_failure(result))
    return warnings


def run_pipeline(landing: Path, out: Path, warehouse_url: str = "", key_file: Path | None = None,
                 reporter: Callable[[str], None] = print, log_level: str = "CRITICAL",
                 strict: bool = False) -> RunOutcome:
    """Stage every month of the landing area, then build; Dagster's own log goes to the console
    only at `log_level` (the progress lines come from the reporter). `strict` validates every FHIR
    resource with the fhir.resources R4B models instead of the compiled validator."""
    if not landing.is_dir():
        raise PipelineError(f"landing area {landing} does not exist")
    months = landing_months(landing)
    if not months:
        raise PipelineError(f"no deliveries under {landing} (expected <source>/<ODS>/<YYYY-MM>/<submission>/)")
    out.mkdir(parents=True, exist_ok=True)
    _prune_months(out, months)
    resource = _resource(landing, out, warehouse_url, key_file, strict)
    defs = build_definitions(resource)
    instance = _instance()
    set_reporter(reporter)
    try:
        for month in months:
            result = defs.resolve_job_def("monthly_staging").execute_in_process(
                partition_key=month, instance=instance, raise_on_error=False, run_config=_run_config(log_level))
            if not result.success:
                raise PipelineError(f"staging {month} failed: {_first_failure(result)}")
        warnings = _checked_build(defs, instance, log_level)
    finally:
        set_reporter(None)
        dispose_engines()
    return _outcome(resource, months, warnings)


def rebuild_assets(landing: Path, out: Path, assets: Sequence[str], warehouse_url: str = "",
                   key_file: Path | None = None, reporter: Callable[[str], None] = print,
                   log_level: str = "CRITICAL") -> list[str]:
    """Re-materialise some assets of the build job (e.g. `analytics`, `published`) in one run over
    what earlier runs left; returns the checks that warned. Raises PipelineError like run_pipeline."""
    set_reporter(reporter)
    try:
        return _checked_build(build_definitions(_resource(landing, out, warehouse_url, key_file)), _instance(),
                              log_level, assets)
    finally:
        set_reporter(None)
        dispose_engines()


def _outcome(resource: CarebridgeResource, months: list[str], warnings: list[str]) -> RunOutcome:
    from warehouse.db import make_engine, query

    engine = make_engine(resource.url)
    try:
        # Line 0 is the header row kept for a rejected file; the count is of data rows.
        quarantined = query(engine, "SELECT count(*) AS n FROM identifiable.quarantine "
                                    "WHERE source_line > 0")["n"][0].as_py()
        # Superseded files (an earlier submission replaced by a later one) are not rejections.
        rejected = query(engine, "SELECT count(*) AS n FROM identifiable.load_audit "
                                 "WHERE file_status IN ('rejected', 'unknown_table', 'unreadable')")["n"][0].as_py()
    finally:
        engine.dispose()
    return RunOutcome(months=months, warehouse_url=resource.url, out=resource.out,
                      rows_quarantined=quarantined, files_rejected=rejected, warnings=warnings)
