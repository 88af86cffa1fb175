"""Automation: the landing sensor stages months whose deliveries changed (adding new months as
partitions), the monthly schedule stages the previous month, and a build follows staging.

The landing layout is read by `carebridge.staging.landing.delivery_months` only."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import dagster as dg

from carebridge.staging.landing import delivery_months
from pipelines.jobs import build_job, monthly_staging_job
from pipelines.partitions import MONTHS
from pipelines.resources import CarebridgeResource


def new_delivery_months(landing: Path, seen: set[str]) -> tuple[list[str], set[str]]:
    """Months with a delivery folder not seen before, and the updated set of seen folders."""
    current = {folder for folders in delivery_months(landing).values() for folder in folders}
    fresh = current - seen
    return sorted({Path(f).parts[2] for f in fresh}), seen | current


def _run_key(month: str, folders: list[str]) -> str:
    """Same deliveries, same key: a month is staged again only when its folders change."""
    return f"{month}:{hashlib.sha256(json.dumps(folders).encode()).hexdigest()[:12]}"


@dg.sensor(job=monthly_staging_job, minimum_interval_seconds=60)
def landing_sensor(context: dg.SensorEvaluationContext, carebridge: CarebridgeResource):
    """Requests a staging run for every month that received a new delivery folder, adding months
    never seen before as partitions."""
    landing = carebridge.landing
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    months, seen = new_delivery_months(landing, seen)
    context.update_cursor(json.dumps(sorted(seen)))
    if not months:
        return dg.SkipReason(f"no new deliveries under {landing}")
    folders = delivery_months(landing)
    known = set(context.instance.get_dynamic_partitions(MONTHS.name))
    new = [m for m in months if m not in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=_run_key(m, folders.get(m, [])), partition_key=m) for m in months],
        dynamic_partitions_requests=[MONTHS.build_add_request(new)] if new else [])


def previous_month(moment: datetime) -> str:
    """The reporting month before `moment`'s month (on 8 December: November)."""
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return f"{year:04d}-{month:02d}"


@dg.schedule(cron_schedule="0 6 8 * *", job=monthly_staging_job, execution_timezone="Europe/London",
             name="monthly_staging_schedule",
             description="Stage last month's deliveries on the 8th (MHSDS submissions land in the first week); "
                         "skipped, saying so, when that month has no deliveries.")
def monthly_staging_schedule(context: dg.ScheduleEvaluationContext, carebridge: CarebridgeResource):
    month = previous_month(context.scheduled_execution_time)
    folders = delivery_months(carebridge.landing).get(month)
    if not folders:
        return dg.SkipReason(f"no deliveries for {month} under {carebridge.landing}: nothing to stage")
    # A schedule cannot return partition requests: the month becomes a partition here (idempotent).
    if month not in context.instance.get_dynamic_partitions(MONTHS.name):
        context.instance.add_dynamic_partitions(MONTHS.name, [month])
    return dg.RunRequest(run_key=_run_key(month, folders), partition_key=month)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[monthly_staging_job],
                      request_job=build_job)
def build_after_staging(context: dg.RunStatusSensorContext):
    """Once a month is staged, rebuild everything downstream from the staged months, unless a build
    is already waiting to start (it will read every staged month when it does)."""
    waiting = context.instance.get_run_ids(filters=dg.RunsFilter(
        job_name=build_job.name, statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]), limit=1)
    if waiting:
        return dg.SkipReason(f"build run {waiting[0]} is already queued; it will include this month")
    return dg.RunRequest(run_key=context.dagster_run.run_id)
