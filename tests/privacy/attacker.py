"""A differencing attacker (no tests here): what can be learnt about suppressed cells from a release.

It reads only what is published (the tables, the rule of marts.yaml and codes.yaml, and the
identities marts.yaml declares: `totals` of a table and `margins` between tables), never the
unrounded data, and is not written for any one table:

- every published count p says its true value v has round(v) = p and v >= threshold: an integer
  interval (p - 2 .. p + 2 under rounding to 5); a suppressed count says nothing more than v >= 0
  (it may be a small count or a secondarily suppressed large one); a hidden count (a numerator or
  denominator not shown) likewise;
- every published proportion is evidence about its numerator and denominator: the attacker
  enumerates the (numerator, denominator) pairs that give exactly the published percentage, with
  the denominator in its current interval, under the rule the release states (`rate_basis`:
  "published" = computed from the rounded counts, "true" = from the unrounded ones, the old rule);
- every identity sum(left) = sum(right) narrows each cell's interval from the others' (interval
  constraint propagation, to a fixed point), alternating with the proportion evidence.

A suppressed count is *recovered* when its final interval holds fewer integers than the rounding
base: the attacker then knows it more precisely than a published, rounded count would have told.
(A suppressed count's own rule gives 0 .. threshold - 1, `rounding` integers under 5 and 5; a
recovered cell is anything narrower, such as "3 or 4" or "exactly 3".) The bounds are sound: the
tests check the true value lies in every interval, so a recovery is a real disclosure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from warehouse.disclosure import Cell, Constraint
from warehouse.publish import PublishedSpec

INF = math.inf
MAX_CANDIDATES = 2000  # denominators enumerated per proportion (an interval wider than this is skipped)


class Infeasible(ValueError):
    """The evidence contradicts itself: an identity or an assumption about the rule is wrong."""


@dataclass
class Attack:
    bounds: dict[Cell, list[float]]
    suppressed: list[Cell]  # shown count cells published as suppressed

    def width(self, cell: Cell) -> float:
        lo, hi = self.bounds[cell]
        return hi - lo + 1

    def recovered(self, rounding: int) -> list[Cell]:
        return [c for c in self.suppressed if self.width(c) < rounding]

    def exact(self) -> list[Cell]:
        return [c for c in self.suppressed if self.width(c) == 1]


def _round1(value: float) -> float:
    return math.floor(value * 10 + 1e-9 + 0.5) / 10


def _published_interval(p: float, threshold: int, rounding: int) -> list[float]:
    """The integers v >= threshold with floor(v / rounding + 1/2) * rounding = p."""
    return [max(float(threshold), math.ceil(p - rounding / 2)), math.ceil(p + rounding / 2) - 1.0]


def _largest_suppressed(threshold: int, rounding: int) -> float:
    """The largest count the primary rule suppresses (4 under 5 and 5; 7 under 8 and 5)."""
    v = threshold
    while math.floor(v / rounding + 0.5) * rounding < threshold:
        v += 1
    return float(v - 1)


def _propagate(bounds: dict[Cell, list[float]], constraints: Sequence[Constraint]) -> bool:
    """Tighten every cell of every identity from the others, to a fixed point; True if anything changed."""
    terms = [[(c, 1) for c in k.left] + [(c, -1) for c in k.right] for k in constraints]
    by_cell: dict[Cell, list[int]] = defaultdict(list)
    for index, t in enumerate(terms):
        for cell, _ in t:
            by_cell[cell].append(index)
    pending, queued, changed = list(range(len(terms))), set(range(len(terms))), False
    while pending:
        index = pending.pop()
        queued.discard(index)
        t = terms[index]
        # sum(coef * x) = 0: each x_j lies within -(the others' sum) / coef_j.
        lows = [bounds[c][0] if k > 0 else -bounds[c][1] for c, k in t]
        highs = [bounds[c][1] if k > 0 else -bounds[c][0] for c, k in t]
        low_finite = sum(v for v in lows if v > -INF)
        high_finite = sum(v for v in highs if v < INF)
        low_inf = sum(1 for v in lows if v == -INF)
        high_inf = sum(1 for v in highs if v == INF)
        for j, (cell, k) in enumerate(t):
            others_low = -INF if low_inf - (lows[j] == -INF) else low_finite - (lows[j] if lows[j] > -INF else 0)
            others_high = INF if high_inf - (highs[j] == INF) else high_finite - (highs[j] if highs[j] < INF else 0)
            # k * x_j = -others  =>  k * x_j in [-others_high, -others_low]
            lo_kx, hi_kx = -others_high, -others_low
            lo, hi = (lo_kx, hi_kx) if k > 0 else (-hi_kx, -lo_kx)
            old = bounds[cell]
            new = [max(old[0], math.ceil(lo - 1e-9) if lo > -INF else -INF),
                   min(old[1], math.floor(hi + 1e-9) if hi < INF else INF)]
            if new[0] > new[1]:
                raise Infeasible(f"{constraints[index].name}: {cell} has no value left ({new})")
            if new != old:
                bounds[cell] = new
                changed = True
                for other in by_cell[cell]:
                    if other not in queued:
                        queued.add(other)
                        pending.append(other)
    return changed


def _rate_evidence(bounds: dict[Cell, list[float]], rates: Sequence[tuple[Cell, Cell, float, float]],
                   rounding: int, basis: str) -> bool:
    """Narrow numerators and denominators to the pairs that give exactly each published rate."""
    changed = False
    half_low, half_high = math.ceil(rounding / 2), math.ceil(rounding / 2) - 1  # v in [p - 2, p + 2] under 5
    for numerator, denominator, rate, scale in rates:
        d_lo, d_hi = bounds[denominator]
        if basis == "published":
            # The rounded denominator: a multiple of the rounding whose interval meets the bounds.
            first = math.ceil((d_lo - half_high) / rounding) * rounding
            last = math.floor((d_hi + half_low) / rounding) * rounding if d_hi < INF else INF
            step = rounding
        else:
            first, last, step = d_lo, d_hi, 1
        if last == INF or (last - first) / step > MAX_CANDIDATES:
            continue
        ns, ds = [], []
        for d in range(int(max(first, step)), int(last) + 1, step):
            centre = rate * d / scale
            for n in range(int(math.floor(centre / step)) * step - step, int(centre) + 2 * step, step):
                if n >= 0 and _round1(scale * n / d) == rate:
                    ns.append(n)
                    ds.append(d)
        if not ns:
            continue
        slack_low, slack_high = (half_low, half_high) if basis == "published" else (0, 0)
        for cell, found in ((numerator, ns), (denominator, ds)):
            old = bounds[cell]
            new = [max(old[0], min(found) - slack_low), min(old[1], max(found) + slack_high)]
            if new != old:
                bounds[cell], changed = new, True
    return changed


def attack(tables: Mapping[str, Sequence[Mapping[str, Any]]], specs: Mapping[str, PublishedSpec],
           constraints: Sequence[Constraint], threshold: int, rounding: int, *, rate_basis: str = "published",
           totals_from_parts: bool = False, suppressed_are_small: bool = False) -> Attack:
    """Everything the identities and proportions of a published release tell about its cells.

    The options describe the old rule (before secondary suppression), which the attacker is told
    as it would be told the current one: `totals_from_parts`, the total rows were re-added from the
    published parts, so their counts say nothing about the true totals; `suppressed_are_small`,
    only small counts were ever suppressed, so a suppressed count is below the threshold.
    """
    bounds: dict[Cell, list[float]] = {}
    suppressed: list[Cell] = []
    rates: list[tuple[Cell, Cell, float, bool]] = []
    for name, rows in tables.items():
        spec = specs[name]
        total = spec.totals
        for i, row in enumerate(rows):
            on_total = total is not None and row.get(total.dimension) == total.total
            for column in spec.cells:
                cell = (name, i, column)
                value = row.get(column) if column in spec.counts else None
                if column in spec.counts and value is None:
                    suppressed.append(cell)
                if value is None or (on_total and totals_from_parts):
                    small = value is None and suppressed_are_small and column in spec.counts and not on_total
                    bounds[cell] = [0.0, _largest_suppressed(threshold, rounding) if small else INF]
                else:
                    bounds[cell] = _published_interval(float(value), threshold, rounding)
            for column, (numerator, denominator, scale) in spec.rates.items():
                if row.get(column) is not None:
                    rates.append(((name, i, numerator), (name, i, denominator), float(row[column]), scale))
                    for part in (numerator, denominator):  # both parts reached the threshold
                        bounds[(name, i, part)][0] = max(bounds[(name, i, part)][0], float(threshold))
    for constraint in constraints:
        for cell in constraint.cells:
            bounds.setdefault(cell, [0.0, INF])
    for _ in range(20):
        moved = _propagate(bounds, constraints)
        moved = _rate_evidence(bounds, rates, rounding, rate_basis) or moved
        if not moved:
            break
    return Attack(bounds=bounds, suppressed=suppressed)
