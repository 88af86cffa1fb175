"""XmR charts (Making Data Count): limits and the three special-cause rules, by hand and as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carebridge.report.spc import E2, xmr, variation


def test_mean_moving_range_and_limits_by_hand():
    chart = xmr([10, 12, 11, 13, 12])
    assert chart.mean == pytest.approx(11.6)
    assert chart.mean_moving_range == pytest.approx((2 + 1 + 2 + 1) / 4)
    assert chart.upper == pytest.approx(11.6 + 2.66 * 1.5) and chart.lower == pytest.approx(11.6 - 2.66 * 1.5)
    assert [p.moving_range for p in chart.points] == [None, 2, 1, 2, 1]
    assert not any(p.special for p in chart.points)


def test_a_point_outside_the_limits_is_flagged():
    chart = xmr([10, 11, 10, 11, 10, 11, 10, 40, 10, 11])
    assert [p.outside for p in chart.points] == [False] * 7 + [True] + [False] * 2
    assert variation(chart.points[7], chart.mean, improvement="down") == "special cause concern"
    assert variation(chart.points[7], chart.mean, improvement="up") == "special cause improvement"
    assert variation(chart.points[7], chart.mean) == "special cause"
    steady = xmr([10, 12, 11, 13, 12])
    assert variation(steady.points[0], steady.mean) == "common cause"


def test_seven_in_a_row_on_one_side_of_the_mean_is_a_shift_and_six_is_not():
    base = [20, 5, 21, 4, 20, 5]
    seven = xmr(base + [14, 15, 14, 15, 14, 15, 14])  # mean about 13.3: seven points above it
    assert [p.shift for p in seven.points] == [False] * 6 + [True] * 7
    six = xmr(base + [14, 15, 14, 15, 14, 15, 5])
    assert not any(p.shift for p in six.points)


def test_six_increasing_is_a_trend_and_five_is_not():
    six = xmr([10, 12, 10, 1, 2, 3, 4, 5, 6, 10, 12])
    assert [i for i, p in enumerate(six.points) if p.trend] == [3, 4, 5, 6, 7, 8, 9, 10]  # 1, 2, .., 6, 10, 12: rising on
    five = xmr([10, 12, 10, 1, 2, 3, 4, 5, 2, 12])
    assert not any(p.trend for p in five.points)
    equal = xmr([1, 2, 3, 3, 4, 5, 6])  # a repeated value breaks the run
    assert not any(p.trend for p in equal.points)


def test_missing_values_are_left_out_and_break_ranges_and_runs():
    chart = xmr([10, None, 12, 14, None, 16])
    assert chart.n == 4 and chart.mean == pytest.approx(13)
    assert [p.moving_range for p in chart.points] == [None, None, None, 2, None, None]
    assert chart.mean_moving_range == 2
    assert xmr([None, None]).mean is None and xmr([]).points == ()
    assert xmr([5]).upper is None  # one point has no moving range: no limits


def test_limits_are_clipped_to_what_the_measure_can_take():
    chart = xmr([0, 10, 0, 10, 0], lower_bound=0)
    assert chart.lower == 0 and chart.upper == pytest.approx(4 + E2 * 10)


@given(st.lists(st.one_of(st.none(), st.integers(0, 500)), max_size=40))
def test_properties(values):
    chart = xmr(values)
    assert len(chart.points) == len(values)
    present = [v for v in values if v is not None]
    if chart.upper is not None:
        assert chart.lower <= chart.mean <= chart.upper
        assert all(p.outside == (p.value > chart.upper or p.value < chart.lower)
                   for p in chart.points if p.value is not None)
    for point in chart.points:
        assert point.value is not None or not point.special
    if present and len(set(present)) == 1:  # a flat series has no special cause
        assert not any(p.special for p in chart.points)
