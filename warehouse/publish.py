"""Published aggregates: unrounded SQL over `analytics`, then disclosure control in one pure function.

Disclosure control (reference.md, as NHS England's mental health statistics): a count below the
threshold is suppressed, every other count is rounded to the nearest `rounding` (and suppressed
too if rounding took it below the threshold, as 7 rounded to 5 would under a threshold of 7); a
proportion is suppressed when its numerator or denominator is below the threshold, otherwise
computed from the unrounded values, and so is its 95% Wilson score confidence interval (marts.yaml
`intervals`), suppressed exactly when the proportion is. Where a table shows totals beside their
parts (marts.yaml `totals`), each total's counts are recomputed from the published parts, so a
total never gives away a suppressed part. The spec shows a suppressed value as `*`; a SQL column cannot mix numbers and
text, so suppressed values are stored as NULL (and NULL means nothing else in a controlled column)
and `as_text` renders a table with `*` for display and CSV export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from warehouse.db import execute, query, table_exists, write_table
from warehouse.marts import read_sql, settings

__all__ = ["PublishedSpec", "TotalsSpec", "published_specs", "published_sql", "apply_disclosure",
           "wilson_interval", "interval_columns", "recompute_totals", "as_text", "publish_table", "missing_sources",
           "publish_all", "SUPPRESSED", "Z_95"]

SUPPRESSED = "*"
_DECIMALS = 1  # proportions (as percentages) and statistics are published to one decimal place
Z_95 = 1.959963984540054  # the standard normal quantile of a two-sided 95% interval


@dataclass(frozen=True)
class TotalsSpec:
    """Rows that total other rows of the same table: `dimension` says which breakdown a row is in,
    `total` is its value on the total rows, and a total and its parts share the `keys` columns."""

    dimension: str
    total: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class PublishedSpec:
    """One published table as declared in marts.yaml."""

    name: str
    columns: tuple[str, ...]
    counts: tuple[str, ...]
    proportions: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    statistics: Mapping[str, str] = field(default_factory=dict)
    totals: TotalsSpec | None = None
    intervals: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # "schema.table" the SELECT reads that a warehouse may not have yet

    @property
    def controlled(self) -> tuple[str, ...]:
        bounds = tuple(c for name in self.intervals for c in interval_columns(name))
        return (*self.counts, *self.proportions, *self.statistics, *bounds)


def interval_columns(name: str) -> tuple[str, str]:
    """The columns holding the confidence interval of proportion `name`."""
    return f"{name}_ci_low", f"{name}_ci_high"


def _pair(value: list[str]) -> tuple[str, str]:
    numerator, denominator = value
    return numerator, denominator


def _spec(name: str, d: Mapping[str, Any]) -> PublishedSpec:
    spec = PublishedSpec(
        name=name, columns=tuple(d["columns"]), counts=tuple(d["counts"]),
        proportions={k: _pair(v) for k, v in (d.get("proportions") or {}).items()},
        statistics=dict(d.get("statistics") or {}),
        totals=TotalsSpec(d["totals"]["dimension"], d["totals"]["total"], tuple(d["totals"]["keys"]))
        if d.get("totals") else None,
        intervals={k: _pair(v) for k, v in (d.get("intervals") or {}).items()},
        requires=tuple(d.get("requires") or ()))
    for proportion, parts in spec.intervals.items():
        # An interval is suppressed exactly when its proportion is: same numerator and denominator.
        if spec.proportions.get(proportion) != parts:
            raise ValueError(f"published.{name}: interval {proportion} {list(parts)} is not a proportion "
                             f"with the same numerator and denominator")
    return spec


@cache
def published_specs() -> dict[str, PublishedSpec]:
    return {name: _spec(name, d) for name, d in settings()["published"].items()}


def published_sql(name: str) -> str:
    return read_sql(f"published_{name}")


# --- disclosure control (pure, over Arrow) ---------------------------------------------------

def _numbers(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """As float64 (PostgreSQL results may arrive as decimals, or untyped when empty)."""
    return pc.cast(column, pa.float64())


def _below(column: pa.ChunkedArray, threshold: int) -> pa.ChunkedArray:
    """True where the value is below the threshold or unknown (unknown is never published)."""
    return pc.fill_null(pc.less(_numbers(column), float(threshold)), True)


def _null_where(mask: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(mask, pa.scalar(None, values.type), values)


def _rounded_count(column: pa.ChunkedArray, threshold: int, rounding: int) -> pa.ChunkedArray:
    as_float = _numbers(column)
    rounded = pc.multiply(pc.round(pc.divide(as_float, float(rounding)), round_mode="half_up"), float(rounding))
    suppressed = pc.or_(_below(column, threshold), _below(rounded, threshold))
    return _null_where(suppressed, pc.cast(rounded, pa.int64()))


def _too_small(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray, threshold: int) -> pa.ChunkedArray:
    """Where a proportion of these parts is suppressed: either part below the threshold (or unknown)."""
    return pc.or_(_below(numerator, threshold), _below(denominator, threshold))


def _proportion(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray, threshold: int) -> pa.ChunkedArray:
    """numerator / denominator as a percentage from the unrounded values; NULL when either is small."""
    small = _too_small(numerator, denominator, threshold)
    safe_denominator = pc.if_else(small, 1.0, _numbers(denominator))
    percent = pc.multiply(pc.divide(_numbers(numerator), safe_denominator), 100.0)
    return _null_where(small, pc.round(percent, _DECIMALS, round_mode="half_up"))


def wilson_interval(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray,
                    z: float = Z_95) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The Wilson score interval of numerator / denominator, as percentages to one decimal place
    (NULL where the denominator is not positive or either part is unknown). No disclosure control.

    centre = (p + z²/2n) / (1 + z²/n), half-width = z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
    """
    n, x = _numbers(denominator), _numbers(numerator)
    undefined = pc.or_(pc.fill_null(pc.less_equal(n, 0.0), True), pc.is_null(x))
    n = pc.if_else(undefined, 1.0, n)
    p = pc.divide(pc.fill_null(x, 0.0), n)
    z2 = z * z
    scale = pc.add(1.0, pc.divide(z2, n))
    centre = pc.divide(pc.add(p, pc.divide(z2 / 2, n)), scale)
    spread = pc.add(pc.divide(pc.multiply(p, pc.subtract(1.0, p)), n), pc.divide(z2 / 4, pc.multiply(n, n)))
    half = pc.divide(pc.multiply(z, pc.sqrt(pc.max_element_wise(spread, 0.0))), scale)

    def percent(bound: pa.ChunkedArray) -> pa.ChunkedArray:
        clamped = pc.min_element_wise(pc.max_element_wise(bound, 0.0), 1.0)
        return _null_where(undefined, pc.round(pc.multiply(clamped, 100.0), _DECIMALS, round_mode="half_up"))

    return percent(pc.subtract(centre, half)), percent(pc.add(centre, half))


def _interval(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray,
              threshold: int) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The 95% Wilson interval from the unrounded parts, NULL exactly where `_proportion` is."""
    small = _too_small(numerator, denominator, threshold)
    low, high = wilson_interval(numerator, denominator)
    return _null_where(small, low), _null_where(small, high)


def _statistic(values: pa.ChunkedArray, base: pa.ChunkedArray, threshold: int) -> pa.ChunkedArray:
    return _null_where(_below(base, threshold), pc.round(_numbers(values), _DECIMALS, round_mode="half_up"))


def apply_disclosure(table: pa.Table, count_columns: Iterable[str],
                     proportion_specs: Mapping[str, tuple[str, str]], threshold: int = 5, rounding: int = 5,
                     *, statistic_specs: Mapping[str, str] | None = None,
                     interval_specs: Mapping[str, tuple[str, str]] | None = None) -> pa.Table:
    """Suppress and round the counts, (re)compute proportions from the unrounded counts.

    `proportion_specs` maps a proportion column to its (numerator, denominator) columns, which must
    be in `table`; the proportion is added or replaced. `interval_specs` maps a proportion to the
    same parts: its 95% Wilson interval is added as `<name>_ci_low` and `<name>_ci_high`,
    suppressed where the proportion is. `statistic_specs` maps a statistic (e.g. a
    median) to the count it is computed from: the statistic is suppressed when that count is below
    the threshold. Numerator, denominator and base columns are left as they are (unrounded):
    the caller drops them unless they are also listed as counts.
    """
    originals = {name: table.column(name) for name in table.column_names}
    result = table
    for name, (numerator, denominator) in proportion_specs.items():
        result = _set(result, name, _proportion(originals[numerator], originals[denominator], threshold))
    for name, (numerator, denominator) in (interval_specs or {}).items():
        bounds = _interval(originals[numerator], originals[denominator], threshold)
        for column, values in zip(interval_columns(name), bounds):
            result = _set(result, column, values)
    for name, base in (statistic_specs or {}).items():
        result = _set(result, name, _statistic(originals[name], originals[base], threshold))
    for name in count_columns:
        result = _set(result, name, _rounded_count(originals[name], threshold, rounding))
    return result


def recompute_totals(table: pa.Table, totals: TotalsSpec, count_columns: Iterable[str]) -> pa.Table:
    """Each total row's counts become the largest sum of its published parts over the breakdowns
    (a suppressed part adds nothing; a total of nothing is suppressed). Built only from published
    values, a total then reveals nothing the parts do not; rows keep their order."""
    counts = list(count_columns)
    order = "_carebridge_row"
    table = table.append_column(order, pa.array(range(table.num_rows), pa.int64()))
    is_total = pc.fill_null(pc.equal(table[totals.dimension], totals.total), False)
    parts, total_rows = table.filter(pc.invert(is_total)), table.filter(is_total)
    sums = parts.group_by([*totals.keys, totals.dimension]).aggregate([(c, "sum") for c in counts])
    sums = pa.table({**{k: sums[k] for k in totals.keys},
                     **{c: pc.fill_null(sums[f"{c}_sum"], 0) for c in counts}})
    best = sums.group_by(list(totals.keys)).aggregate([(c, "max") for c in counts])
    joined = total_rows.drop_columns(counts).join(best, list(totals.keys), join_type="left outer")
    for c in counts:
        value = pc.cast(joined[f"{c}_max"], table.schema.field(c).type)
        joined = joined.append_column(c, _null_where(pc.fill_null(pc.equal(value, 0), True), value))
    recomputed = joined.select(table.column_names)
    return pa.concat_tables([parts, recomputed]).sort_by(order).drop_columns([order])


def _set(table: pa.Table, name: str, values: pa.ChunkedArray) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def as_text(table: pa.Table, controlled_columns: Iterable[str]) -> pa.Table:
    """Every column as text, with `*` where a controlled value was suppressed (for display / CSV)."""
    controlled = set(controlled_columns)
    columns = []
    for name in table.column_names:
        text = pc.cast(table.column(name), pa.string())
        columns.append(pc.fill_null(text, SUPPRESSED) if name in controlled else text)
    return pa.table(columns, names=table.column_names)


# --- publishing ------------------------------------------------------------------------------

def publish_table(engine: sa.Engine, spec: PublishedSpec, threshold: int, rounding: int) -> pa.Table:
    """Run one published SELECT, apply disclosure control, keep the declared columns."""
    raw = query(engine, published_sql(spec.name))
    controlled = apply_disclosure(raw, spec.counts, spec.proportions, threshold, rounding,
                                  statistic_specs=spec.statistics, interval_specs=spec.intervals)
    if spec.totals is not None:
        controlled = recompute_totals(controlled, spec.totals, spec.counts)
    return controlled.select(list(spec.columns))


def missing_sources(engine: sa.Engine, spec: PublishedSpec) -> list[str]:
    """The tables of `spec.requires` the warehouse lacks (e.g. no staging run wrote a load audit)."""
    return [t for t in spec.requires if not table_exists(engine, *t.split(".", 1))]


def publish_all(engine: sa.Engine, threshold: int = 5, rounding: int = 5) -> dict[str, pa.Table]:
    """Build and write every published table; returns them as written. A table whose `requires`
    are missing is not built, and any earlier version of it is dropped (never left stale)."""
    tables = {}
    for name, spec in published_specs().items():
        if missing_sources(engine, spec):
            execute(engine, f"DROP TABLE IF EXISTS published.{name}")
            continue
        tables[name] = publish_table(engine, spec, threshold, rounding)
        write_table(engine, "published", name, tables[name])
    return tables
