"""Disclosure control over a whole release: primary suppression, rounding and secondary suppression.

Pure functions over plain rows (lists of dicts), so the same code builds the constraints the
publisher protects and the ones the tests' attacker exploits.

A *cell* is one count of one row of one published table: `(table, row index, column)`. Columns are
the table's counts and also its hidden counts (the numerators, denominators and bases of its
proportions and statistics): a rate computed from the published counts lets anyone work its
rounded parts back out, so a hidden count is controlled exactly like a shown one.

A *constraint* is a linear identity the true values satisfy: the sum of the `left` cells equals the
sum of the `right` cells. Two kinds are declared as data in marts.yaml: `totals` of a table (its
`all` row equals the sum of its parts in every breakdown) and `margins` between tables (e.g. the
`all` rows of pathways_by_group are the rows of pathways; the monthly activity summed over a
financial year is the `all` row of activity_by_group).

Secondary suppression: a constraint with exactly one suppressed cell gives that cell away by
subtraction, so the smallest published cell of that constraint is suppressed too; this repeats over
every constraint of every table until none has exactly one suppressed cell (a fixed point: each
step suppresses one more cell, so it ends).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cell", "Constraint", "MarginSide", "MarginSpec", "round_half_up", "primary_suppressed",
           "financial_year", "total_constraints", "margin_constraints", "hierarchy_constraints", "secondary_suppression", "published_interval",
           "DERIVATIONS"]

Cell = tuple[str, int, str]  # (table, row index in the table's unrounded SELECT, column)


@dataclass(frozen=True)
class Constraint:
    """sum(left) == sum(right) over the true (unrounded) values."""

    name: str
    left: tuple[Cell, ...]
    right: tuple[Cell, ...]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return self.left + self.right


def round_half_up(value: float, rounding: int) -> int:
    """To the nearest multiple of `rounding`, halves up (as pyarrow's half_up on the count columns)."""
    return int(math.floor(float(value) / rounding + 0.5)) * rounding


def primary_suppressed(value: float | None, threshold: int, rounding: int) -> bool:
    """A count not published on its own: unknown, below the threshold, or rounded below it."""
    return value is None or value < threshold or round_half_up(value, rounding) < threshold


def financial_year(month: str | None) -> str | None:
    """'2025-03' -> '2024-25' (NHS financial years run April to March)."""
    if not month or len(month) < 7:
        return None
    year, mon = int(month[:4]), int(month[5:7])
    start = year - (1 if mon < 4 else 0)
    return f"{start}-{(start + 1) % 100:02d}"


# Key derivations a margin may use (marts.yaml `derive: {new_key: [function, source column]}`).
DERIVATIONS = {"financial_year": financial_year}


@dataclass(frozen=True)
class MarginSide:
    """Rows of `table` (those matching `where`), grouped by `keys` (after `derive`)."""

    table: str
    keys: tuple[str, ...]
    where: Mapping[str, Any] = field(default_factory=dict)
    derive: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def groups(self, rows: Sequence[Mapping[str, Any]]) -> dict[tuple, list[int]]:
        grouped: dict[tuple, list[int]] = defaultdict(list)
        for i, row in enumerate(rows):
            if any(row.get(k) != v for k, v in self.where.items()):
                continue
            values = {**row, **{new: DERIVATIONS[fn](row.get(src)) for new, (fn, src) in self.derive.items()}}
            grouped[tuple(values.get(k) for k in self.keys)].append(i)
        return grouped


@dataclass(frozen=True)
class MarginSpec:
    """Tables (or parts of one) publishing the same margin: for every key, the sums of `columns`
    over each side agree (two sides or more: the first equals every other)."""

    name: str
    columns: tuple[str, ...]
    sides: tuple[MarginSide, ...]


def margin_constraints(spec: MarginSpec, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Constraint]:
    """One constraint per other side, key and column; a key on one side only means the other
    side's sum is 0."""
    a, *others = spec.sides
    if any(side.table not in rows for side in spec.sides):
        return []
    left = a.groups(rows[a.table])
    constraints = []
    for n, b in enumerate(others, start=1):
        right = b.groups(rows[b.table])
        for key in sorted(set(left) | set(right), key=repr):
            for column in spec.columns:
                constraints.append(Constraint(
                    f"{spec.name}{key}.{n}.{column}",
                    tuple((a.table, i, column) for i in left.get(key, ())),
                    tuple((b.table, i, column) for i in right.get(key, ()))))
    return constraints


def hierarchy_constraints(table: str, rows: Sequence[Mapping[str, Any]], level: str, code: str, parent: str,
                          levels: Sequence[str], keys: Sequence[str], columns: Iterable[str]) -> list[Constraint]:
    """Each row of a level (`levels`, from the top) equals the sum of the rows of the next level
    down whose `parent` is its `code` (e.g. a PCN and its practices), per `keys`."""
    depth = {name: i for i, name in enumerate(levels)}
    children: dict[tuple, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.get(level) in depth and depth[row[level]] > 0:
            children[(tuple(row.get(k) for k in keys), levels[depth[row[level]] - 1], row.get(parent))].append(i)
    constraints = []
    columns = list(columns)
    for i, row in enumerate(rows):
        if row.get(level) not in depth or depth[row[level]] == len(levels) - 1:
            continue
        key = (tuple(row.get(k) for k in keys), row[level], row.get(code))
        for column in columns:
            constraints.append(Constraint(f"{table}{key}.{column}", ((table, i, column),),
                                          tuple((table, j, column) for j in children.get(key, ()))))
    return constraints


def total_constraints(table: str, rows: Sequence[Mapping[str, Any]], dimension: str, total: str,
                      keys: Sequence[str], columns: Iterable[str]) -> list[Constraint]:
    """The `total` row of each key equals the sum of its parts, separately in every breakdown."""
    totals: dict[tuple, list[int]] = defaultdict(list)
    parts: dict[tuple, dict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, row in enumerate(rows):
        key = tuple(row.get(k) for k in keys)
        if row.get(dimension) == total:
            totals[key].append(i)
        else:
            parts[key][row.get(dimension)].append(i)
    constraints = []
    columns = list(columns)
    for key in sorted(set(totals) | set(parts), key=repr):
        for breakdown, members in sorted(parts.get(key, {}).items(), key=repr):
            for column in columns:
                constraints.append(Constraint(
                    f"{table}{key}.{breakdown}.{column}",
                    tuple((table, i, column) for i in totals.get(key, ())),
                    tuple((table, i, column) for i in members)))
    return constraints


def published_interval(shown: int, threshold: int, rounding: int) -> tuple[float, float]:
    """The true values a published count could have: v >= threshold with round(v) = shown."""
    return max(float(threshold), math.ceil(shown - rounding / 2)), math.ceil(shown + rounding / 2) - 1.0


def _narrowed(constraint: Constraint, values: Mapping[Cell, float | None], hidden: set[Cell],
              threshold: int, rounding: int) -> bool:
    """Whether this identity alone pins a suppressed cell to fewer than `rounding` values, from the
    published cells' intervals and nothing known of the other suppressed cells but v >= 0 (a
    total of 7 shown as 5 and a part of 6 shown as 5 leave the suppressed rest at 0 to 2)."""
    terms = [(c, 1) for c in constraint.left] + [(c, -1) for c in constraint.right]
    low = high = 0.0  # bounds of sum(k * v) over the published cells
    unbounded_high = unbounded_low = 0  # suppressed cells with k = +1 / -1 (each v in 0 .. inf)
    for cell, k in terms:
        if cell in hidden:
            unbounded_high += k > 0
            unbounded_low += k < 0
            continue
        lo, hi = published_interval(round_half_up(values[cell], rounding), threshold, rounding)
        low, high = (low + lo, high + hi) if k > 0 else (low - hi, high - lo)
    for cell, k in terms:
        if cell not in hidden:
            continue
        # k * v = -(published sum) - (the other suppressed cells' sum)
        others_pos, others_neg = unbounded_high - (k > 0), unbounded_low - (k < 0)
        upper_kv = -low + (others_neg and math.inf)   # the others with k = -1 add up to +inf
        lower_kv = -high - (others_pos and math.inf)
        lo, hi = (lower_kv, upper_kv) if k > 0 else (-upper_kv, -lower_kv)
        lo, hi = max(lo, 0.0), hi
        if hi - lo + 1 < rounding:
            return True
    return False


def secondary_suppression(values: Mapping[Cell, float | None], suppressed: set[Cell],
                          constraints: Sequence[Constraint], threshold: int = 5, rounding: int = 5) -> set[Cell]:
    """Suppress more cells until no constraint has exactly one suppressed cell, nor pins one to
    fewer than `rounding` values from its published cells' rounding intervals; returns the new set.

    The cell added to a constraint is its smallest published one (least information lost; ties go
    to the parts before the total, then to the first). A constraint whose other cells are all
    suppressed already needs nothing. Cells absent from `values` are treated as suppressed.
    """
    result = set(suppressed) | {c for cell_list in (k.cells for k in constraints) for c in cell_list
                                if c not in values}
    by_cell: dict[Cell, list[int]] = defaultdict(list)
    for index, constraint in enumerate(constraints):
        for cell in constraint.cells:
            by_cell[cell].append(index)
    pending = list(range(len(constraints)))
    while pending:
        index = pending.pop()
        constraint = constraints[index]
        cells = constraint.cells
        hidden = [c for c in cells if c in result]
        if not hidden or (len(hidden) > 1 and not _narrowed(constraint, values, result, threshold, rounding)):
            continue
        candidates = [(values[c] or 0, c in constraint.left, position, c)
                      for position, c in enumerate(cells) if c not in result]
        if not candidates:
            continue
        chosen = min(candidates)[3]
        result.add(chosen)
        pending.extend(by_cell[chosen])  # constraints holding the new cell may need more
        pending.append(index)
    return result
