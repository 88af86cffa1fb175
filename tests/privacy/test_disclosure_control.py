"""Disclosure control on every published table (reference.md), with the configured rule and others.

The rule: counts below the threshold are suppressed (NULL, shown `*`), the rest rounded to the
nearest `rounding` and suppressed too if rounding took them below the threshold; proportions are
computed from the rounded numerator and denominator and suppressed with either; no declared
identity (a table's totals, a margin two tables share) is left with exactly one suppressed cell.
tests/privacy/test_differencing.py attacks the result.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carebridge.core.reference import codes
from warehouse.build import build_published
from warehouse.db import query, read_table
from warehouse.disclosure import round_half_up
from warehouse.publish import (PublishedSpec, TotalsSpec, apply_disclosure, protect_release, published_margins,
                               published_specs, published_sql, release_constraints)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 500)), max_size=30), st.integers(1, 12), st.integers(1, 10))
def test_no_published_count_lies_between_one_and_the_threshold(values, threshold, rounding):
    out = apply_disclosure(pa.table({"n": pa.array(values, pa.int64())}), ["n"], {}, threshold, rounding)["n"]
    for raw, shown in zip(values, out.to_pylist()):
        assert shown is None or (shown >= threshold and shown % rounding == 0), (raw, shown)
        if raw is None or raw < threshold:
            assert shown is None


def test_a_count_rounded_below_the_threshold_is_suppressed():
    # Under "suppress below 7, round to 5", 7 would round to 5 and give away that it was exactly 7.
    out = apply_disclosure(pa.table({"n": [6, 7, 8, 12, 13]}), ["n"], {}, threshold=7, rounding=5)
    assert out["n"].to_pylist() == [None, None, 10, 10, 15]


def test_secondary_suppression_protects_a_lone_suppressed_part_in_every_breakdown():
    spec = PublishedSpec(name="t", columns=("measure", "dim", "value", "n"), counts=("n",),
                         totals=TotalsSpec(dimension="dim", total="all", keys=("measure",)))
    raw = pa.table({
        "measure": ["A"] * 6,
        "dim": ["all", "sex", "sex", "age", "age", "age"],
        "value": ["all", "F", "M", "young", "mid", "old"],
        "n": [33, 30, 3, 12, 11, 10],
    })
    out = protect_release({"t": raw}, {"t": spec}, (), threshold=5, rounding=5)["t"]
    # M (3) is suppressed; the total minus F would give it, so F, the smallest other cell of that
    # breakdown, goes too. The age breakdown has no suppressed cell and is untouched. The total is
    # the rounded true total (35), not the sum of rounded parts (30).
    assert out["n"].to_pylist() == [35, None, None, 10, 10, 10]


def test_secondary_suppression_reaches_a_fixed_point_across_breakdowns():
    spec = PublishedSpec(name="t", columns=("measure", "dim", "value", "n"), counts=("n",),
                         totals=TotalsSpec(dimension="dim", total="all", keys=("measure",)))
    raw = pa.table({"measure": ["A"] * 5, "dim": ["all", "sex", "sex", "age", "age"],
                    "value": ["all", "F", "M", "young", "old"], "n": [9, 6, 3, 5, 4]})
    out = protect_release({"t": raw}, {"t": spec}, (), threshold=5, rounding=5)["t"]
    # M suppressed -> F (the smaller cell of the sex breakdown than the total); old suppressed ->
    # young; every breakdown now has two suppressed cells and the total alone is shown.
    assert out["n"].to_pylist() == [10, None, None, None, None]


@pytest.fixture
def published_copy(duckdb_run, helpers, tmp_path):
    """A private copy of the generated run's warehouse, as the pipeline published it."""
    with helpers.duckdb_copy(duckdb_run, tmp_path) as engine:
        yield engine


def _check_counts(engine, threshold: int, rounding: int) -> tuple[int, int]:
    """Every controlled count of every published table obeys the rule; returns (shown, suppressed)."""
    shown = suppressed = 0
    for name, spec in published_specs().items():
        table = read_table(engine, "published", name)
        for column in spec.counts:
            for value in table[column].to_pylist():
                assert value is None or (value >= threshold and value % rounding == 0), (name, column)
                shown, suppressed = shown + (value is not None), suppressed + (value is None)
    return shown, suppressed


def _check_proportions(engine, threshold: int, rounding: int) -> int:
    """A proportion is shown only when its numerator and denominator both reach the threshold, and
    then equals the percentage of their rounded values (rows of the unrounded SELECT and of the
    published table are in the same order); returns the number shown."""
    shown = 0
    for name, spec in published_specs().items():
        raw = query(engine, published_sql(name)).to_pylist()
        published = read_table(engine, "published", name).to_pylist()
        assert len(raw) == len(published), name
        for r, p in zip(raw, published):
            for column, (numerator, denominator) in spec.proportions.items():
                if p[column] is None:
                    continue
                n, d = (round_half_up(r[c], rounding) for c in (numerator, denominator))
                assert min(n, d) >= threshold and p[column] == round(100 * n / d + 1e-9, 1), (name, column)
                shown += 1
    return shown


def _check_secondary(engine) -> int:
    """No declared identity among the shown counts has exactly one suppressed cell (hidden counts
    are checked by the attacker, test_differencing.py); returns the identities checked."""
    specs = published_specs()
    rows = {name: read_table(engine, "published", name).to_pylist() for name in specs}
    checked = 0
    for constraint in release_constraints(rows, specs, published_margins()):
        cells = [c for c in constraint.cells if c[2] in specs[c[0]].counts]
        if len(cells) == len(constraint.cells):
            suppressed = sum(rows[t][i][c] is None for t, i, c in cells)
            assert suppressed != 1, constraint.name
            checked += 1
    return checked


def test_the_pipeline_published_with_the_configured_rule(published_copy):
    rule = codes()["disclosure"]
    shown, suppressed = _check_counts(published_copy, rule["suppress_below"], rule["round_to"])
    assert shown > 20 and suppressed > 0, "a generated system should give both shown and suppressed counts"
    assert _check_proportions(published_copy, rule["suppress_below"], rule["round_to"]) > 0
    assert _check_secondary(published_copy) > 0


@pytest.mark.parametrize("threshold, rounding", [(7, 5), (10, 10), (3, 2)])
def test_other_rules_are_applied_as_configured(published_copy, threshold, rounding):
    build_published(published_copy, threshold=threshold, rounding=rounding)
    shown, _ = _check_counts(published_copy, threshold, rounding)
    assert shown > 0
    _check_proportions(published_copy, threshold, rounding)
    assert _check_secondary(published_copy) > 0
