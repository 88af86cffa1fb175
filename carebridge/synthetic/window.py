"""The reporting window: its months, date <-> month conversions and submission ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Window", "make_window", "submission_id"]


@dataclass(frozen=True)
class Window:
    months: tuple[str, ...]          # "YYYY-MM", in order
    start: np.datetime64             # first day of the first month
    end: np.datetime64               # last day of the last month

    @property
    def days(self) -> int:
        return int((self.end - self.start).astype(int)) + 1

    def month_index(self, dates: np.ndarray) -> np.ndarray:
        """0-based month of each date within the window (may fall outside 0..len-1)."""
        months = dates.astype("datetime64[M]") - self.start.astype("datetime64[M]")
        return months.astype(np.int64)

    def month_bounds(self, index: int) -> tuple[np.datetime64, np.datetime64]:
        first = (self.start.astype("datetime64[M]") + index).astype("datetime64[D]")
        last = (self.start.astype("datetime64[M]") + index + 1).astype("datetime64[D]") - 1
        return first, last


def make_window(first: str, last: str) -> Window:
    start_m, end_m = np.datetime64(first, "M"), np.datetime64(last, "M")
    if end_m < start_m:
        raise ValueError(f"months run backwards: {first}..{last}")
    months = tuple(str(m) for m in np.arange(start_m, end_m + 1))
    return Window(months, start_m.astype("datetime64[D]"), (end_m + 1).astype("datetime64[D]") - 1)


def submission_id(month: str, offset_days: int, hhmm: str) -> str:
    """A timestamp id a few days after the month ends, e.g. 20250503T1015 for 2025-04."""
    day = (np.datetime64(month, "M") + 1).astype("datetime64[D]") + offset_days - 1
    return f"{str(day).replace('-', '')}T{hhmm}"
