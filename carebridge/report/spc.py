"""Statistical process control as NHS England's "Making Data Count" draws it: XmR charts.

`xmr(values)` takes a series in time order (None where a value is missing, e.g. suppressed) and
returns its mean, the mean moving range, the process limits (mean +/- 2.66 x mean moving range) and,
for every point, which special-cause rules it meets:

- `outside`: the point is above the upper or below the lower process limit;
- `shift`: the point is in a run of `SHIFT` (7) or more consecutive points all above, or all below,
  the mean (a point on the mean breaks the run);
- `trend`: the point is in a run of `TREND` (6) or more consecutive points each higher, or each
  lower, than the one before (an equal value breaks the run).

Missing values are left out of the mean and break moving ranges and runs (a moving range is only
taken between two consecutive periods that both have a value). A pure function, no charting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["E2", "SHIFT", "TREND", "XmRPoint", "XmR", "xmr", "variation"]

E2 = 2.66  # 3 / d2 for moving ranges of 2 points (d2 = 1.128)
SHIFT = 7
TREND = 6


@dataclass(frozen=True)
class XmRPoint:
    value: float | None
    moving_range: float | None
    outside: bool = False
    shift: bool = False
    trend: bool = False

    @property
    def special(self) -> bool:
        return self.outside or self.shift or self.trend


@dataclass(frozen=True)
class XmR:
    mean: float | None
    mean_moving_range: float | None
    upper: float | None  # upper process limit
    lower: float | None  # lower process limit
    points: tuple[XmRPoint, ...]

    @property
    def n(self) -> int:
        return sum(p.value is not None for p in self.points)


def _present(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _runs(flags: Sequence[int], length: int) -> list[bool]:
    """True at every position inside a run of at least `length` equal non-zero flags."""
    marked = [False] * len(flags)
    start = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            if flags[start] != 0 and i - start >= length:
                marked[start:i] = [True] * (i - start)
            start = i
    return marked


def xmr(values: Sequence[float | None], lower_bound: float | None = None,
        upper_bound: float | None = None) -> XmR:
    """The XmR chart of `values`. `lower_bound` / `upper_bound` clip the process limits to what the
    measure can take (0 for counts, 0 and 100 for percentages); the rules use the clipped limits."""
    clean = [float(v) if _present(v) else None for v in values]
    present = [v for v in clean if v is not None]
    ranges = [abs(b - a) if a is not None and b is not None else None for a, b in zip([None, *clean], clean)]
    if not present:
        return XmR(None, None, None, None, tuple(XmRPoint(None, None) for _ in clean))
    mean = sum(present) / len(present)
    taken = [r for r in ranges if r is not None]
    mr = sum(taken) / len(taken) if taken else None
    upper = lower = None
    if mr is not None:
        upper, lower = mean + E2 * mr, mean - E2 * mr
        upper = min(upper, upper_bound) if upper_bound is not None else upper
        lower = max(lower, lower_bound) if lower_bound is not None else lower
    side = [0 if v is None or v == mean else (1 if v > mean else -1) for v in clean]
    # direction of each point from the one before; a run of TREND points has TREND - 1 steps
    step = [0] + [0 if a is None or b is None or a == b else (1 if b > a else -1) for a, b in zip(clean, clean[1:])]
    trend_steps = _runs(step, TREND - 1)
    trend = [trend_steps[i] or (i + 1 < len(step) and trend_steps[i + 1]) for i in range(len(step))]
    shift = _runs(side, SHIFT)
    points = tuple(
        XmRPoint(v, r,
                 outside=v is not None and upper is not None and (v > upper or v < lower),
                 shift=v is not None and shift[i], trend=v is not None and trend[i])
        for i, (v, r) in enumerate(zip(clean, ranges)))
    return XmR(mean, mr, upper, lower, points)


def variation(point: XmRPoint, mean: float | None, improvement: str | None = None) -> str:
    """Making Data Count's reading of a point: common cause, or special cause improvement / concern
    (when higher or lower is better, `improvement` = "up" / "down"), else special cause (neither)."""
    if point.value is None or not point.special:
        return "common cause"
    if improvement is None or mean is None:
        return "special cause"
    high = point.value > mean
    return "special cause improvement" if high == (improvement == "up") else "special cause concern"
