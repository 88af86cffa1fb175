"""Jobs: staging runs per month; the build job takes the staged months all the way to published."""

import dagster as dg

from pipelines.partitions import MONTHLY
from pipelines.progress import progress_failed, progress_ok

monthly_staging_job = dg.define_asset_job(
    "monthly_staging", selection=dg.AssetSelection.assets("staged_month"), partitions_def=MONTHLY,
    hooks={progress_ok, progress_failed},
    description="Stage one reporting month's deliveries (latest submission per provider wins).")

build_job = dg.define_asset_job(
    "build", selection=dg.AssetSelection.all() - dg.AssetSelection.assets("staged_month"),
    hooks={progress_ok, progress_failed},
    description="Consolidate staged months, link people, map to FHIR, build views, marts and published tables.")
