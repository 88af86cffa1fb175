"""The carebridge code location: `dagster dev -m pipelines` loads `defs` from here."""

import dagster as dg

from pipelines.fhir_assets import fhir_bundles, fhir_resources
from pipelines.jobs import build_job, monthly_staging_job
from pipelines.linkage_assets import person_index
from pipelines.mesh_inbox import mesh_inbox_sensor
from pipelines.resources import CarebridgeResource, Progress, resource_from_env
from pipelines.sensors import build_after_staging, landing_sensor
from pipelines.staging_assets import staged, staged_month
from pipelines.warehouse_assets import analytics, data_docs, fhir_views, published, report

ASSETS = [staged_month, staged, person_index, fhir_resources, fhir_bundles, fhir_views, analytics, published, data_docs, report]

monthly_schedule = dg.build_schedule_from_partitioned_job(
    monthly_staging_job, name="monthly_staging_schedule", day_of_month=8, hour_of_day=6,
    description="Stage last month's deliveries on the 8th (MHSDS submissions land in the first week).")


def build_definitions(carebridge: CarebridgeResource | None = None, progress: Progress | None = None) -> dg.Definitions:
    """The code location over one deployment's resource; progress lines go to `progress` (else the run log)."""
    return dg.Definitions(
        assets=ASSETS,
        jobs=[monthly_staging_job, build_job],
        schedules=[monthly_schedule],
        sensors=[landing_sensor, build_after_staging, mesh_inbox_sensor],
        resources={"carebridge": carebridge or resource_from_env(), "progress": progress or Progress()},
    )


defs = build_definitions()
