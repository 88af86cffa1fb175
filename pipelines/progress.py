"""Progress lines for `carebridge run`: a hook on every step of the in-process job, sending lines
to the `progress` resource (pipelines.resources.Progress) the runner passes to `build_definitions`."""

from __future__ import annotations

import time

import dagster as dg


def _report(context: dg.HookContext, outcome: str) -> None:
    progress = context.resources.progress
    run = context.instance.get_run_by_id(context.run_id)
    partition = run.tags.get("dagster/partition") if run else None
    name = f"{context.op.name} {partition}" if partition else context.op.name
    line = f"[{time.monotonic() - progress.started:7.1f}s] {name}: {outcome}"
    if progress.reporter is not None:
        progress.reporter(line)
    else:
        context.log.info(line)


@dg.success_hook(name="carebridge_progress_ok", required_resource_keys={"progress"})
def progress_ok(context: dg.HookContext) -> None:
    _report(context, "done")


@dg.failure_hook(name="carebridge_progress_failed", required_resource_keys={"progress"})
def progress_failed(context: dg.HookContext) -> None:
    _report(context, "FAILED")
