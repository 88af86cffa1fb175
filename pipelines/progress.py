"""Progress lines for `carebridge run`: a hook on every step of the in-process job."""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg

_reporter: Callable[[str], None] | None = None
_started = time.monotonic()


def set_reporter(reporter: Callable[[str], None] | None) -> None:
    """Send progress lines to `reporter` (the CLI sets this; in `dagster dev` lines go to the run log)."""
    global _reporter, _started
    _reporter, _started = reporter, time.monotonic()


def _report(context: dg.HookContext, outcome: str) -> None:
    run = context.instance.get_run_by_id(context.run_id)
    partition = run.tags.get("dagster/partition") if run else None
    name = f"{context.op.name} {partition}" if partition else context.op.name
    line = f"[{time.monotonic() - _started:7.1f}s] {name}: {outcome}"
    if _reporter is not None:
        _reporter(line)
    else:
        context.log.info(line)


@dg.success_hook(name="carebridge_progress_ok")
def progress_ok(context: dg.HookContext) -> None:
    _report(context, "done")


@dg.failure_hook(name="carebridge_progress_failed")
def progress_failed(context: dg.HookContext) -> None:
    _report(context, "FAILED")
