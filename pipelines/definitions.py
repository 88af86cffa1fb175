"""The carebridge code location: `dg dev` / `dagster dev -m pipelines` load `defs` from here.

Instance configuration for the UI and daemon (warehouse pool, run queue limits) is
`pipelines/dagster.yaml`; `carebridge ui` installs it in its DAGSTER_HOME."""

from pathlib import Path

import dagster as dg

from pipelines.fhir_assets import fhir_bundles, fhir_resources
from pipelines.jobs import build_job, monthly_staging_job
from pipelines.linkage_assets import person_index
from pipelines.mesh_inbox import mesh_inbox_sensor
from pipelines.progress import Reporter, progress_resource
from pipelines.resources import CarebridgeResource, resource_from_env
from pipelines.spark_resource import SparkResource
from pipelines.sensors import build_after_staging, landing_sensor, monthly_staging_schedule
from pipelines.staging_assets import staged, staged_month
from pipelines.mart_assets import analytics
from pipelines.warehouse_assets import data_docs, fhir_views, published, report

ASSETS = [staged_month, staged, person_index, fhir_resources, fhir_bundles, fhir_views, analytics, published, data_docs, report]

INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")

monthly_schedule = monthly_staging_schedule  # the name earlier code imported

# Runs launched outside `carebridge run` (the UI, `dagster asset materialize`, `dg launch`) execute
# each step in its own process. Forked from a server that has imported the code location once,
# instead of spawned (the default), a step does not import Dagster and the project again.
EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["pipelines.definitions"]}}}, name="multiprocess_forkserver")


def build_definitions(carebridge: CarebridgeResource | None = None, progress: Reporter | None = None) -> dg.Definitions:
    """The definitions over one deployment's locations; `progress` receives a line per finished
    step (None: the run log)."""
    return dg.Definitions(
        assets=ASSETS,
        jobs=[monthly_staging_job, build_job],
        schedules=[monthly_staging_schedule],
        sensors=[landing_sensor, build_after_staging, mesh_inbox_sensor],
        executor=EXECUTOR,
        resources={"carebridge": carebridge or resource_from_env(), "progress": progress_resource(progress),
                   "spark": SparkResource()},
    )


defs = build_definitions()
