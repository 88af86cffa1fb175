"""Sensors: notice new deliveries in the landing area; build after staging succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from carebridge.staging.landing import delivery_folders
from pipelines.jobs import build_job, monthly_staging_job
from pipelines.resources import resource_from_env

__all__ = ["delivery_folders", "new_delivery_months", "landing_sensor", "build_after_staging"]

# delivery_folders (carebridge.staging.landing) is the landing scan staging itself uses: only
# folders holding a file staging would stage, with a valid month inside the accepted range, so a
# malformed or out-of-range month never becomes a partition key.


def new_delivery_months(landing: Path, seen: set[str]) -> tuple[list[str], set[str]]:
    """Months with a delivery folder not seen before, and the updated set of seen folders."""
    current = set(delivery_folders(landing)) if landing.exists() else set()
    fresh = current - seen
    return sorted({Path(f).parts[2] for f in fresh}), seen | current


@dg.sensor(job=monthly_staging_job, minimum_interval_seconds=60)
def landing_sensor(context: dg.SensorEvaluationContext):
    """Requests a staging run for every month that received a new delivery folder."""
    landing = resource_from_env().landing
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    months, seen = new_delivery_months(landing, seen)
    context.update_cursor(json.dumps(sorted(seen)))
    if not months:
        return dg.SkipReason(f"no new deliveries under {landing}")
    return [dg.RunRequest(run_key=f"{m}:{len(seen)}", partition_key=m) for m in months]


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[monthly_staging_job],
                      request_job=build_job)
def build_after_staging(context: dg.RunStatusSensorContext):
    """Once a month is staged, rebuild everything downstream from the staged months."""
    return dg.RunRequest(run_key=context.dagster_run.run_id)
