"""Published aggregates: unrounded SQL over `analytics`, then disclosure control in one pure function.

Disclosure control (reference.md, as NHS England's mental health statistics): a count below the
threshold is suppressed, every other count is rounded to the nearest `rounding` (and suppressed
too if rounding took it below the threshold, as 7 rounded to 5 would under a threshold of 7); a
proportion is suppressed when its numerator or denominator is below the threshold, otherwise
computed from the unrounded values. Where a table shows totals beside their parts (marts.yaml
`totals`), each total's counts are recomputed from the published parts, so a total never gives
away a suppressed part. The spec shows a suppressed value as `*`; a SQL column cannot mix numbers and
text, so suppressed values are stored as NULL (and NULL means nothing else in a controlled column)
and `as_text` renders a table with `*` for display and CSV export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from warehouse.db import query, write_table
from warehouse.marts import read_sql, settings

__all__ = ["PublishedSpec", "TotalsSpec", "published_specs", "published_sql", "apply_disclosure",
           "recompute_totals", "as_text", "publish_table", "publish_all", "SUPPRESSED"]

SUPPRESSED = "*"
_DECIMALS = 1  # proportions (as percentages) and statistics are published to one decimal place


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

    @property
    def controlled(self) -> tuple[str, ...]:
        return (*self.counts, *self.proportions, *self.statistics)


@cache
def published_specs() -> dict[str, PublishedSpec]:
    declared = settings()["published"]
    return {name: PublishedSpec(
        name=name, columns=tuple(d["columns"]), counts=tuple(d["counts"]),
        proportions={k: (v[0], v[1]) for k, v in (d.get("proportions") or {}).items()},
        statistics=dict(d.get("statistics") or {}),
        totals=TotalsSpec(d["totals"]["dimension"], d["totals"]["total"], tuple(d["totals"]["keys"]))
        if d.get("totals") else None)
        for name, d in declared.items()}


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


def _proportion(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray, threshold: int) -> pa.ChunkedArray:
    """numerator / denominator as a percentage from the unrounded values; NULL when either is small."""
    small = pc.or_(_below(numerator, threshold), _below(denominator, threshold))
    safe_denominator = pc.if_else(small, 1.0, _numbers(denominator))
    percent = pc.multiply(pc.divide(_numbers(numerator), safe_denominator), 100.0)
    return _null_where(small, pc.round(percent, _DECIMALS, round_mode="half_up"))


def _statistic(values: pa.ChunkedArray, base: pa.ChunkedArray, threshold: int) -> pa.ChunkedArray:
    return _null_where(_below(base, threshold), pc.round(_numbers(values), _DECIMALS, round_mode="half_up"))


def apply_disclosure(table: pa.Table, count_columns: Iterable[str],
                     proportion_specs: Mapping[str, tuple[str, str]], threshold: int = 5, rounding: int = 5,
                     *, statistic_specs: Mapping[str, str] | None = None) -> pa.Table:
    """Suppress and round the counts, (re)compute proportions from the unrounded counts.

    `proportion_specs` maps a proportion column to its (numerator, denominator) columns, which must
    be in `table`; the proportion is added or replaced. `statistic_specs` maps a statistic (e.g. a
    median) to the count it is computed from: the statistic is suppressed when that count is below
    the threshold. Numerator, denominator and base columns are left as they are (unrounded):
    the caller drops them unless they are also listed as counts.
    """
    originals = {name: table.column(name) for name in table.column_names}
    result = table
    for name, (numerator, denominator) in proportion_specs.items():
        result = _set(result, name, _proportion(originals[numerator], originals[denominator], threshold))
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
                                  statistic_specs=spec.statistics)
    if spec.totals is not None:
        controlled = recompute_totals(controlled, spec.totals, spec.counts)
    return controlled.select(list(spec.columns))


def publish_all(engine: sa.Engine, threshold: int = 5, rounding: int = 5) -> dict[str, pa.Table]:
    """Build and write every published table; returns them as written."""
    tables = {}
    for name, spec in published_specs().items():
        tables[name] = publish_table(engine, spec, threshold, rounding)
        write_table(engine, "published", name, tables[name])
    return tables
