"""Run the Dagster jobs in process: the staged months (one run per contiguous range of months),
then the build, with progress lines. Talks to Dagster through its public API only: definitions
built over this run's resource and progress callable, the instance's dynamic partitions, and the
events of each run's result."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from carebridge.core.layout import OutputLayout
from carebridge.core.runlock import RunLocked, run_lock
from carebridge.core.settings import Settings
from carebridge.preflight import PreflightError
from carebridge.preflight import landing_months as _landing_months
from carebridge.staging.audit import FILE_STATUSES, NOT_STAGED
from pipelines import build_definitions
from pipelines.partitions import add_months, month_ranges, range_tags
from pipelines.resources import CarebridgeResource

__all__ = ["RunOutcome", "PipelineError", "PipelineInterrupted", "landing_months", "run_pipeline", "rebuild_assets"]

_INTERRUPTS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


class PipelineError(RuntimeError):
    """The pipeline could not run or a blocking check failed: a one-line reason for the user."""


class PipelineInterrupted(PipelineError):
    """The run was interrupted (SIGINT / SIGTERM); `where` says what it was doing."""

    def __init__(self, where: str):
        super().__init__(f"interrupted during {where}")
        self.where = where


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
    """Months with deliveries (the landing layout is carebridge.staging.landing's); PipelineError if none."""
    try:
        return _landing_months(landing)
    except PreflightError as exc:
        raise PipelineError(str(exc)) from None


class _Progress:
    """Timed progress lines to the reporter; remembers the last step that finished."""

    def __init__(self, reporter: Callable[[str], None]):
        self.reporter, self.started, self.last_done = reporter, time.monotonic(), ""

    def __call__(self, line: str) -> None:
        if line.endswith(": done"):
            self.last_done = line[: -len(": done")]
        self.reporter(f"[{time.monotonic() - self.started:7.1f}s] {line}")


def _instance() -> dg.DagsterInstance:
    """The user's Dagster instance when DAGSTER_HOME is set (runs then show in the UI), else a throwaway one."""
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


def _interrupted_step(result: dg.ExecuteInProcessResult) -> str | None:
    """Where an interrupt stopped the run ("step X", or "between steps"), if it ended that way."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            if error.cls_name in _INTERRUPTS:
                return f"step {event.step_key}" if event.step_key else "between steps"
            error = error.cause
    return None


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
    """The assets named, by name, key prefix or step (`published` is every `published/<table>`,
    `analytics` every mart the analytics step builds)."""
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return sorted((k for k in keys if k.path[0] in names or defs.resolve_assets_def(k).node_def.name in names),
                  key=lambda k: k.to_user_string())


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, log_level: str, what: Callable[[], str],
             **kwargs) -> dg.ExecuteInProcessResult:
    """One in-process run; an interrupt becomes PipelineInterrupted naming the step it stopped."""
    try:
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        run_config=_run_config(log_level), **kwargs)
    except KeyboardInterrupt:
        raise PipelineInterrupted(what()) from None
    where = _interrupted_step(result)
    if where is not None:
        raise PipelineInterrupted(f"{what()} ({where})")
    return result


def _checked_build(defs: dg.Definitions, instance: dg.DagsterInstance, log_level: str, progress: _Progress,
                   assets: Sequence[str] | None = None) -> list[str]:
    """Run the build job (or some of its assets); raise on a blocking check or a failed step,
    else return the checks that only warned."""
    selection = _asset_keys(defs, assets) if assets else None
    result = _execute(defs.resolve_job_def("build"), instance, log_level,
                      lambda: _build_where(progress), asset_selection=selection)
    errors, warnings = _failed_checks(result)
    if errors:
        raise PipelineError(f"blocking check failed: {', '.join(errors)}")
    if not result.success:
        raise PipelineError(_first_failure(result))
    return warnings


def _build_where(progress: _Progress) -> str:
    return f"the build, after {progress.last_done}" if progress.last_done else "the build"


def _stage(defs: dg.Definitions, instance: dg.DagsterInstance, months: list[str], log_level: str) -> None:
    """Stage `months`: registered as partitions, then one run per contiguous range of them."""
    add_months(instance, months)
    job = defs.resolve_job_def("monthly_staging")
    for start, end in month_ranges(instance, months):
        label = start if start == end else f"{start}..{end}"
        result = _execute(job, instance, log_level, lambda: f"staging {label}", tags=range_tags(start, end))
        if not result.success:
            raise PipelineError(f"staging {label} failed: {_first_failure(result)}")


def _remove_work(out: Path) -> None:
    """Work folders of an interrupted step (FHIR export parts, bundle index) never outlive a run."""
    shutil.rmtree(OutputLayout(out).fhir / ".work", ignore_errors=True)


def run_pipeline(landing: Path, out: Path, warehouse_url: str = "", key_file: Path | None = None,
                 reporter: Callable[[str], None] = print, log_level: str = "CRITICAL",
                 strict: bool = False) -> RunOutcome:
    """Stage every month of the landing area, then build; Dagster's own log goes to the console
    only at `log_level` (the progress lines come from the reporter). Holds the run lock of the
    output folder and warehouse throughout (RunLocked is a PipelineError's message). `strict`
    validates every FHIR resource with the fhir.resources R4B models instead of the compiled validator."""
    months = landing_months(landing)
    out.mkdir(parents=True, exist_ok=True)
    resource = _resource(landing, out, warehouse_url, key_file, strict)
    progress = _Progress(reporter)
    try:
        with run_lock(out, resource.url):
            _prune_months(out, months)
            defs = build_definitions(resource, progress=progress)
            with _instance() as instance:  # an ephemeral one's temporary folder goes with it
                _stage(defs, instance, months, log_level)
                warnings = _checked_build(defs, instance, log_level, progress)
            return _outcome(resource, months, warnings)
    except RunLocked as exc:
        raise PipelineError(str(exc)) from None
    finally:
        _remove_work(out)


def rebuild_assets(landing: Path, out: Path, assets: Sequence[str], warehouse_url: str = "",
                   key_file: Path | None = None, reporter: Callable[[str], None] = print,
                   log_level: str = "CRITICAL") -> list[str]:
    """Re-materialise some assets of the build job (e.g. `analytics`, `published`) in one run over
    what earlier runs left; returns the checks that warned. Raises PipelineError like run_pipeline."""
    resource = _resource(landing, out, warehouse_url, key_file)
    progress = _Progress(reporter)
    try:
        with run_lock(out, resource.url):
            with _instance() as instance:
                return _checked_build(build_definitions(resource, progress=progress), instance, log_level,
                                      progress, assets)
    except RunLocked as exc:
        raise PipelineError(str(exc)) from None
    finally:
        _remove_work(out)


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
