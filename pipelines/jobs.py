"""Jobs: staging runs over delivery months; the build job takes the staged months all the way to
published. Build runs carry the `carebridge/warehouse` tag, which the project's instance
configuration (pipelines/dagster.yaml) limits to one run at a time."""

import dagster as dg

from pipelines.partitions import MONTHS
from pipelines.progress import progress_failed, progress_ok

WAREHOUSE_TAG = "carebridge/warehouse"

monthly_staging_job = dg.define_asset_job(
    "monthly_staging", selection=dg.AssetSelection.assets("staged_month"), partitions_def=MONTHS,
    hooks={progress_ok, progress_failed},
    description="Stage one or more reporting months' deliveries (latest submission per provider wins); "
                "a range of months is one run.")

build_job = dg.define_asset_job(
    "build", selection=dg.AssetSelection.all() - dg.AssetSelection.assets("staged_month"),
    hooks={progress_ok, progress_failed}, tags={WAREHOUSE_TAG: "write"},
    description="Consolidate staged months, link people, map to FHIR, build views, marts and published tables.")
