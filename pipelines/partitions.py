"""Partitions: one per reporting month that has deliveries, keyed YYYY-MM like the landing folders.

Dynamic, not a calendar: the landing sensor and the monthly schedule add a month when its first
delivery lands (`carebridge run` adds the months it stages), so a backfill over "missing" months
never launches runs for months nobody delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

MONTHS = dg.DynamicPartitionsDefinition(name="delivery_months")

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def add_months(instance: dg.DagsterInstance, months: Sequence[str]) -> list[str]:
    """Register the months not yet partitions (in month order); returns those added."""
    known = set(instance.get_dynamic_partitions(MONTHS.name))
    new = sorted(set(months) - known)
    if new:
        instance.add_dynamic_partitions(MONTHS.name, new)
    return new


def month_ranges(instance: dg.DagsterInstance, months: Sequence[str]) -> list[tuple[str, str]]:
    """`months` as the fewest contiguous ranges of the instance's partition order (one range when
    the months were added in month order, as they normally are): each range is one staging run."""
    wanted = set(months)
    ranges: list[tuple[str, str]] = []
    current: list[str] = []
    for key in instance.get_dynamic_partitions(MONTHS.name):
        if key in wanted:
            current.append(key)
        elif current:
            ranges.append((current[0], current[-1]))
            current = []
    if current:
        ranges.append((current[0], current[-1]))
    return ranges


def range_tags(start: str, end: str) -> dict[str, str]:
    """Run tags that make one run cover a range of partitions (a single-run backfill)."""
    return {RANGE_START: start, RANGE_END: end}
