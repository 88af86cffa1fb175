"""Run the Dagster jobs in process: every staged month, then the build, with progress lines."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from carebridge.core.layout import OutputLayout
from carebridge.staging.audit import FILE_STATUSES, NOT_STAGED
from carebridge.staging.landing import scan
from carebridge.core.settings import Settings
from pipelines import build_definitions
from pipelines.resources import CarebridgeResource, Progress

__all__ = ["RunOutcome", "PipelineError", "landing_months", "run_pipeline", "rebuild_assets"]


class PipelineError(RuntimeError):
    """The pipeline could not run or a blocking check failed: a one-line reason for the user."""


@dataclass
class RunOutcome:
    months: list[str]
    warehouse_url: str
    out: Path
    rows_quarantined: int = 0
    files_rejected: int = 0  # files delivered but not staged: every status but loaded and superseded
    warnings: list[str] = field(default_factory=list)
    files_by_status: dict[str, int] = field(default_factory=dict)  # audit.load_audit file_status -> files


def landing_months(landing: Path) -> list[str]:
    """The months to stage: valid months inside the accepted range that hold a file to stage (the
    same landing scan as staging and the sensor, so no other month reaches Dagster)."""
    return scan(landing).months


def _no_deliveries(landing: Path) -> str:
    ignored = scan(landing).ignored
    message = f"no deliveries under {landing} (expected <source>/<ODS>/<YYYY-MM>/<submission>/<table>.csv)"
    if ignored:
        message += f"; {len(ignored)} entries not staged, e.g. {ignored[0].detail}"
    return message


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
    months_dir = OutputLayout(out).staging_months
    if months_dir.exists():
        for stale in (p for p in months_dir.iterdir() if p.name not in months):
            shutil.rmtree(stale)


def _run_config(log_level: str) -> dict:
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def _resource(landing: Path, out: Path, warehouse_url: str, key_file: Path | None,
              strict: bool = False) -> CarebridgeResource:
    # The caller (the CLI) has resolved the settings already: "" and None keep their defaults here.
    settings = Settings(landing=landing.resolve(), out=out.resolve(), warehouse_url=warehouse_url, key_file=key_file)
    return CarebridgeResource(landing_dir=str(settings.landing), out_dir=str(settings.out),
                              warehouse_url=settings.warehouse_url,
                              key_file=str(settings.key_file) if settings.key_file else "",
                              strict_validation=strict)


def _asset_keys(defs: dg.Definitions, names: Sequence[str]) -> list[dg.AssetKey]:
    """The assets named, by name or by key prefix (`published` is every `published/<table>`)."""
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return sorted((k for k in keys if k.path[0] in names), key=lambda k: k.to_user_string())


def _checked_build(defs: dg.Definitions, instance: dg.DagsterInstance, log_level: str,
                   assets: Sequence[str] | None = None) -> list[str]:
    """Run the build job (or some of its assets); raise on a blocking check or a failed step,
    else return the checks that only warned."""
    selection = _asset_keys(defs, assets) if assets else None
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
        raise PipelineError(_no_deliveries(landing))
    out.mkdir(parents=True, exist_ok=True)
    _prune_months(out, months)
    resource = _resource(landing, out, warehouse_url, key_file, strict)
    defs = build_definitions(resource, Progress(reporter))
    instance = _instance()
    for month in months:
        result = defs.resolve_job_def("monthly_staging").execute_in_process(
            partition_key=month, instance=instance, raise_on_error=False, run_config=_run_config(log_level))
        if not result.success:
            raise PipelineError(f"staging {month} failed: {_first_failure(result)}")
    warnings = _checked_build(defs, instance, log_level)
    return _outcome(resource, months, warnings)


def rebuild_assets(landing: Path, out: Path, assets: Sequence[str], warehouse_url: str = "",
                   key_file: Path | None = None, reporter: Callable[[str], None] = print,
                   log_level: str = "CRITICAL") -> list[str]:
    """Re-materialise some assets of the build job (e.g. `analytics`, `published`) in one run over
    what earlier runs left; returns the checks that warned. Raises PipelineError like run_pipeline."""
    defs = build_definitions(_resource(landing, out, warehouse_url, key_file), Progress(reporter))
    return _checked_build(defs, _instance(), log_level, assets)


def _outcome(resource: CarebridgeResource, months: list[str], warnings: list[str]) -> RunOutcome:
    from warehouse.catalog import audit
    from warehouse.db import make_engine

    engine = make_engine(resource.url)
    try:
        quarantined, by_status = audit.rows_quarantined(engine), audit.files_by_status(engine)
    finally:
        engine.dispose()
    by_status = {s: by_status[s] for s in (*FILE_STATUSES, *sorted(by_status)) if s in by_status}
    # Superseded files (an earlier submission replaced by a later one) are not rejections.
    rejected = sum(by_status.get(s, 0) for s in NOT_STAGED)
    return RunOutcome(months=months, warehouse_url=resource.url, out=resource.out, rows_quarantined=quarantined,
                      files_rejected=rejected, warnings=warnings, files_by_status=by_status)
