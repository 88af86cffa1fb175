"""Published aggregates: unrounded SQL over `analytics`, then disclosure control over the whole release.

Disclosure control (docs/information-governance.md, after NHS England's statistical disclosure
control for mental health statistics), applied to every table of a release together by
`protect_release`:
1. Primary: a count below the threshold (or unknown) is suppressed; every other count is rounded
   to the nearest `rounding`, and suppressed too if rounding took it below the threshold (7 to 5
   under a threshold of 7). The numerators, denominators and bases of proportions and statistics
   ("hidden counts") are controlled in the same way, shown or not.
2. Secondary (`warehouse.disclosure`): wherever a declared identity (a table's `totals`, a
   `margins` entry between tables) has exactly one suppressed cell, its smallest published cell is
   suppressed too, to a fixed point over the whole release.
3. Derived values come only from what survives: a proportion and its 95% Wilson interval are
   computed from the *rounded* numerator and denominator and suppressed with either; a statistic
   (median, mean) is suppressed with the count it is computed from. A total is the rounded true
   total (never re-derived from rounded parts, so totals may not equal the sum of their parts);
   it is protected by the secondary suppression like any part.
The spec shows a suppressed value as `*`; a SQL column cannot mix numbers and text, so suppressed
values are stored as NULL (and NULL means nothing else in a controlled column) and `as_text`
renders a table with `*` for display and CSV export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from warehouse.db import execute, query, table_exists, write_table
from warehouse.disclosure import (Cell, Constraint, MarginSide, MarginSpec, hierarchy_constraints, margin_constraints,
                                  primary_suppressed, round_half_up, secondary_suppression, total_constraints)
from warehouse.marts import read_sql, settings

__all__ = ["PublishedSpec", "TotalsSpec", "HierarchySpec", "published_specs", "published_sql", "apply_disclosure",
           "wilson_interval", "interval_columns", "as_text", "publish_table", "missing_sources",
           "publish_all", "protect_release", "release_constraints", "published_margins", "SUPPRESSED", "Z_95"]

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
class HierarchySpec:
    """Rows at nested levels of one table (e.g. ICB, place, PCN, practice): a row of a level totals
    the rows of the next level down whose `parent` is its `code`, per `keys`."""

    level: str
    code: str
    parent: str
    levels: tuple[str, ...]
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
    per_100000: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # rates per 100,000 (population)
    hierarchy: HierarchySpec | None = None

    @property
    def rates(self) -> dict[str, tuple[str, str, float]]:
        """Every ratio column: (numerator, denominator, scale): percentages and rates per 100,000."""
        return {**{k: (n, d, 100.0) for k, (n, d) in self.proportions.items()},
                **{k: (n, d, 100_000.0) for k, (n, d) in self.per_100000.items()}}

    @property
    def hidden(self) -> tuple[str, ...]:
        """Counts computed but not shown: the parts of proportions and the bases of statistics."""
        parts = [c for n, d, _ in self.rates.values() for c in (n, d)] + list(self.statistics.values())
        return tuple(dict.fromkeys(c for c in parts if c not in self.counts))

    @property
    def cells(self) -> tuple[str, ...]:
        """Every controlled count column, shown or hidden."""
        return (*self.counts, *self.hidden)

    @property
    def additive(self) -> tuple[str, ...]:
        """The counts a total row sums over its parts: every count and every proportion's parts
        (each person or record falls in exactly one part of a breakdown)."""
        parts = [c for n, d, _ in self.rates.values() for c in (n, d)]
        return tuple(dict.fromkeys([*self.counts, *parts]))

    @property
    def controlled(self) -> tuple[str, ...]:
        bounds = tuple(c for name in self.intervals for c in interval_columns(name))
        return (*self.counts, *self.proportions, *self.per_100000, *self.statistics, *bounds)


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
        requires=tuple(d.get("requires") or ()),
        per_100000={k: _pair(v) for k, v in (d.get("per_100000") or {}).items()},
        hierarchy=HierarchySpec(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d["hierarchy"].items()})
        if d.get("hierarchy") else None)
    if spec.totals and spec.hierarchy:
        raise ValueError(f"published.{name}: declare totals or a hierarchy, not both")
    for proportion, parts in spec.intervals.items():
        # An interval is suppressed exactly when its proportion is: same numerator and denominator.
        if spec.proportions.get(proportion) != parts:
            raise ValueError(f"published.{name}: interval {proportion} {list(parts)} is not a proportion "
                             f"with the same numerator and denominator")
    return spec


@cache
def published_specs() -> dict[str, PublishedSpec]:
    return {name: _spec(name, d) for name, d in settings()["published"].items()}


def _side(d: Mapping[str, Any]) -> MarginSide:
    return MarginSide(table=d["table"], keys=tuple(d["keys"]), where=dict(d.get("where") or {}),
                      derive={k: _pair(v) for k, v in (d.get("derive") or {}).items()})


@cache
def published_margins() -> tuple[MarginSpec, ...]:
    """marts.yaml `margins`: identities between published tables (checked against the specs)."""
    specs = published_specs()
    margins = []
    for name, d in (settings().get("margins") or {}).items():
        margin = MarginSpec(name=name, columns=tuple(d["columns"]), sides=tuple(_side(s) for s in d["sides"]))
        for side in margin.sides:
            spec = specs.get(side.table)
            if spec is None or not set(margin.columns) <= set(spec.cells):
                raise ValueError(f"margins.{name}: {side.table} is not a published table with counts "
                                 f"{list(margin.columns)}")
        margins.append(margin)
    return tuple(margins)


def published_sql(name: str) -> str:
    return read_sql(f"published_{name}")


# --- disclosure control (pure) ---------------------------------------------------

def _numbers(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """As float64 (PostgreSQL results may arrive as decimals, or untyped when empty)."""
    return pc.cast(column, pa.float64())


def _null_where(mask: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(mask, pa.scalar(None, values.type), values)


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


def apply_disclosure(table: pa.Table, count_columns: Iterable[str],
                     proportion_specs: Mapping[str, tuple[str, str]], threshold: int = 5, rounding: int = 5,
                     *, statistic_specs: Mapping[str, str] | None = None,
                     interval_specs: Mapping[str, tuple[str, str]] | None = None) -> pa.Table:
    """Disclosure control of one table on its own (no totals or margins): see `protect_release`.

    `proportion_specs` maps a proportion column to its (numerator, denominator) columns, which must
    be in `table`; the proportion is added or replaced, computed from the rounded parts.
    `interval_specs` maps a proportion to the same parts: its 95% Wilson interval is added as
    `<name>_ci_low` and `<name>_ci_high`, from the same rounded parts. `statistic_specs` maps a
    statistic (e.g. a median) to the count it is computed from: suppressed with that count.
    Numerator, denominator and base columns are left as they are: the caller drops them unless
    they are also listed as counts.
    """
    spec = PublishedSpec(name="table", columns=tuple(table.column_names), counts=tuple(count_columns),
                         proportions=dict(proportion_specs), statistics=dict(statistic_specs or {}),
                         intervals=dict(interval_specs or {}))
    return protect_release({"table": table}, {"table": spec}, (), threshold, rounding, select=False)["table"]


def release_constraints(rows: Mapping[str, Sequence[Mapping[str, Any]]], specs: Mapping[str, PublishedSpec],
                        margins: Iterable[MarginSpec]) -> list[Constraint]:
    """Every identity between the cells of these tables that marts.yaml declares: each table's
    `totals` (in every breakdown, over its additive counts) and every `margins` entry."""
    constraints: list[Constraint] = []
    for name, spec in specs.items():
        if spec.totals is not None and name in rows:
            t = spec.totals
            constraints += total_constraints(name, rows[name], t.dimension, t.total, t.keys, spec.additive)
        if spec.hierarchy is not None and name in rows:
            h = spec.hierarchy
            constraints += hierarchy_constraints(name, rows[name], h.level, h.code, h.parent, h.levels, h.keys,
                                                 spec.additive)
    for margin in margins:
        constraints += margin_constraints(margin, rows)
    return constraints


def protect_release(raw: Mapping[str, pa.Table], specs: Mapping[str, PublishedSpec],
                    margins: Iterable[MarginSpec], threshold: int, rounding: int,
                    *, select: bool = True) -> dict[str, pa.Table]:
    """Disclosure control over every table of a release at once (NHS England's rules, docs/
    information-governance.md): primary suppression and rounding of every shown and hidden count,
    secondary suppression over the declared totals and margins, then proportions, intervals and
    statistics from what survives. With `select`, only each spec's `columns` are kept."""
    rows = {name: table.to_pylist() for name, table in raw.items()}
    values: dict[Cell, float | None] = {}
    for name, spec in specs.items():
        for i, row in enumerate(rows.get(name, ())):
            for column in spec.cells:
                value = row[column]
                values[(name, i, column)] = None if value is None else float(value)
    primary = {cell for cell, value in values.items() if primary_suppressed(value, threshold, rounding)}
    suppressed = secondary_suppression(values, primary, release_constraints(rows, specs, margins),
                                       threshold, rounding)
    return {name: _controlled_table(raw[name], name, specs[name], values, suppressed, rounding, select)
            for name in raw}


def _controlled_table(table: pa.Table, name: str, spec: PublishedSpec, values: Mapping[Cell, float | None],
                      suppressed: set[Cell], rounding: int, select: bool) -> pa.Table:
    def published(column: str) -> pa.Array:
        """The column's published values: rounded, NULL where suppressed."""
        return pa.array([None if (name, i, column) in suppressed else round_half_up(values[(name, i, column)], rounding)
                         for i in range(table.num_rows)], pa.int64())

    shown = {column: published(column) for column in spec.cells}
    result = table
    for column, (numerator, denominator, scale) in spec.rates.items():
        ratio = pc.multiply(pc.divide(_numbers(shown[numerator]), _numbers(shown[denominator])), scale)
        result = _set(result, column, pc.round(ratio, _DECIMALS, round_mode="half_up"))
    for column, (numerator, denominator) in spec.intervals.items():
        for bound, values_ in zip(interval_columns(column), wilson_interval(shown[numerator], shown[denominator])):
            result = _set(result, bound, values_)
    for column, base in spec.statistics.items():
        hidden = pc.is_null(shown[base])
        result = _set(result, column, _null_where(hidden, pc.round(_numbers(table.column(column)), _DECIMALS,
                                                                   round_mode="half_up")))
    for column in spec.counts:
        result = _set(result, column, shown[column])
    return result.select(list(spec.columns)) if select else result


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
    """One published table on its own (its totals protected, no margins with other tables);
    `publish_all` protects the whole release together."""
    raw = {spec.name: query(engine, published_sql(spec.name))}
    return protect_release(raw, {spec.name: spec}, (), threshold, rounding)[spec.name]


def missing_sources(engine: sa.Engine, spec: PublishedSpec) -> list[str]:
    """The tables of `spec.requires` the warehouse lacks (e.g. no staging run wrote a load audit)."""
    return [t for t in spec.requires if not table_exists(engine, *t.split(".", 1))]


def publish_all(engine: sa.Engine, threshold: int = 5, rounding: int = 5) -> dict[str, pa.Table]:
    """Build and write every published table, protected together (secondary suppression across
    the margins tables share); returns them as written. A table whose `requires` are missing is not
    built, and any earlier version of it is dropped (never left stale)."""
    specs = published_specs()
    raw = {}
    for name, spec in specs.items():
        if missing_sources(engine, spec):
            execute(engine, f"DROP TABLE IF EXISTS published.{name}")
            continue
        raw[name] = query(engine, published_sql(name))
    tables = protect_release(raw, {n: specs[n] for n in raw}, published_margins(), threshold, rounding)
    for name, table in tables.items():
        write_table(engine, "published", name, table)
    return tables
