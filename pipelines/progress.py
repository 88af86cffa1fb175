"""Progress lines: a hook on every step of the jobs. Where a line goes is the `progress` resource:
`carebridge run` supplies a callable (its console); elsewhere (the UI, sensors' runs) it is None
and the line goes to the run's log."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from pipelines.partitions import RANGE_END, RANGE_START

Reporter = Callable[[str], None]


def progress_resource(reporter: Reporter | None = None) -> dg.ResourceDefinition:
    """The `progress` resource: a callable that takes one line, or None for the run log."""
    return dg.ResourceDefinition.hardcoded_resource(reporter, "where progress lines go (None: the run log)")


def _partition_label(tags: dict[str, str]) -> str | None:
    if tags.get(RANGE_START):
        start, end = tags[RANGE_START], tags.get(RANGE_END, tags[RANGE_START])
        return start if start == end else f"{start}..{end}"
    return tags.get("dagster/partition")


def _report(context: dg.HookContext, outcome: str) -> None:
    run = context.instance.get_run_by_id(context.run_id)
    partition = _partition_label(run.tags) if run else None
    line = f"{context.op.name} {partition}: {outcome}" if partition else f"{context.op.name}: {outcome}"
    reporter: Reporter | None = context.resources.progress
    if reporter is not None:
        reporter(line)
    else:
        context.log.info(line)


@dg.success_hook(name="carebridge_progress_ok", required_resource_keys={"progress"})
def progress_ok(context: dg.HookContext) -> None:
    _report(context, "done")


@dg.failure_hook(name="carebridge_progress_failed", required_resource_keys={"progress"})
def progress_failed(context: dg.HookContext) -> None:
    if isinstance(context.op_exception, (KeyboardInterrupt, dg.DagsterExecutionInterruptedError)):
        return  # stopped, not failed: whoever stopped the run says where
    _report(context, "FAILED")
