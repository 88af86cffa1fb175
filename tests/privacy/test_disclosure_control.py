"""Disclosure control on every published table (reference.md), with the configured rule and others.

The rule: counts below the threshold are suppressed (NULL, shown `*`), the rest rounded to the
nearest `rounding` and suppressed too if rounding took them below the threshold; proportions are
suppressed when their numerator or denominator is below the threshold; totals shown beside their
parts are recomputed from the published parts.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carebridge.core.reference import codes
from warehouse.build import build_published
from warehouse.db import query, read_table
from warehouse.publish import TotalsSpec, apply_disclosure, published_specs, published_sql, recompute_totals


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


def test_totals_are_the_sum_of_the_published_parts():
    spec = TotalsSpec(dimension="dim", total="all", keys=("measure",))
    table = pa.table({
        "measure": ["A"] * 6 + ["B"] * 3,
        "dim": ["all", "sex", "sex", "age", "age", "age", "all", "sex", "sex"],
        "value": ["all", "F", "M", "young", "mid", "old", "all", "F", "M"],
        "n": [25, 15, None, 10, 10, None, 10, None, None],     # published: rounded, NULL = suppressed
    })
    out = recompute_totals(table, spec, ["n"])
    assert out.column_names == table.column_names
    assert out["value"].to_pylist() == table["value"].to_pylist()                # rows keep their order
    # A: sex parts add to 15, age parts to 20 -> 20 (never the 25 rounded from the raw total).
    # B: every part suppressed -> the total is suppressed too.
    assert out["n"].to_pylist() == [20, 15, None, 10, 10, None, None, None, None]


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


def _check_proportions(engine, threshold: int) -> None:
    """A proportion is shown only when its numerator and denominator both reach the threshold
    (rows of the unrounded SELECT and of the published table are in the same order)."""
    for name, spec in published_specs().items():
        raw = query(engine, published_sql(name)).to_pylist()
        published = read_table(engine, "published", name).to_pylist()
        assert len(raw) == len(published), name
        for r, p in zip(raw, published):
            for column, (numerator, denominator) in spec.proportions.items():
                small = any(r[c] is None or r[c] < threshold for c in (numerator, denominator))
                assert (p[column] is None) == small, (name, column)


def _check_totals(engine) -> int:
    checked = 0
    for name, spec in published_specs().items():
        if spec.totals is None:
            continue
        rows = read_table(engine, "published", name).to_pylist()
        t = spec.totals
        for total in (r for r in rows if r[t.dimension] == t.total):
            parts = [r for r in rows if r[t.dimension] != t.total and all(r[k] == total[k] for k in t.keys)]
            for column in spec.counts:
                by_dimension: dict[str, int] = {}
                for part in parts:
                    by_dimension[part[t.dimension]] = by_dimension.get(part[t.dimension], 0) + (part[column] or 0)
                expected = max(by_dimension.values(), default=0) or None
                assert total[column] == expected, (name, column)
                checked += 1
    return checked


def test_the_pipeline_published_with_the_configured_rule(published_copy):
    rule = codes()["disclosure"]
    shown, suppressed = _check_counts(published_copy, rule["suppress_below"], rule["round_to"])
    assert shown > 20 and suppressed > 0, "a generated system should give both shown and suppressed counts"
    _check_proportions(published_copy, rule["suppress_below"])
    assert _check_totals(published_copy) > 0


@pytest.mark.parametrize("threshold, rounding", [(7, 5), (10, 10), (3, 2)])
def test_other_rules_are_applied_as_configured(published_copy, threshold, rounding):
    build_published(published_copy, threshold=threshold, rounding=rounding)
    shown, _ = _check_counts(published_copy, threshold, rounding)
    assert shown > 0
    _check_proportions(published_copy, threshold)
    assert _check_totals(published_copy) > 0
