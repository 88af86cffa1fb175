"""Turn a suite into the checks Great Expectations runs on one table (pure Arrow, no GX).

Plain entries become one check each. carebridge's extensions expand into ordinary GX expectations,
sometimes over a derived column added to the table:

- `carebridge_foreign_key {column, ref_table, ref_column}`: `expect_column_values_to_be_in_set`
  with the referenced column's distinct values as its value_set (passed as a suite parameter).
  Above `foreign_key_value_set_limit` referenced values the check runs on a derived membership
  column `<column>__in_<ref_table>` that must be True (same result, constant GX cost).
- `carebridge_multiple_of {column, base}`: the derived `<column>__mod_<base>` must be 0.
- `carebridge_range_by {column, by, ranges, key_field?}`: one `expect_column_values_to_be_between`
  per entry of `ranges` (e.g. the `measures` code list), on the rows whose `by` column holds the
  entry's name, or the codes in its `key_field` (e.g. `snomed`).
- `carebridge_delimited_values_in_set {column, separator, value_set}`: every item of a delimited
  list (e.g. `isolation;housing`) is in the set, checked by a regex built from the set.
- `carebridge_disclosure_controlled {column, min_value, base}`: the column is >= min_value and a
  multiple of base (suppressed counts are null and pass).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from expectations.spec import ExpectationSpec, SuiteSpec, spec_columns

__all__ = ["Check", "Plan", "build_plan", "EXTENSIONS"]


@dataclass(frozen=True)
class Check:
    """One GX expectation to run (or, with `error` set, one that could not be set up)."""

    key: str
    spec: ExpectationSpec
    gx_expectation: str
    kwargs: Mapping[str, Any]
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    label: str | None = None
    parameters: Mapping[str, list[Any]] = field(default_factory=dict)
    error: str | None = None
    example_column: str | None = None  # for a check on a derived column: the column whose values to show

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns (derived ones included) this check reads or shows examples from."""
        probe = ExpectationSpec(self.gx_expectation, self.kwargs, self.spec.severity, "", self.where)
        shown = (self.example_column,) if self.example_column else ()
        return tuple(dict.fromkeys((*spec_columns(probe), *shown)))


@dataclass(frozen=True)
class Plan:
    data: pa.Table
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class _Context:
    data: pa.Table
    related: Mapping[str, pa.Table]
    fk_limit: int


@dataclass(frozen=True)
class _Expansion:
    checks: list[Check]
    derived: dict[str, pa.ChunkedArray] = field(default_factory=dict)


_Expander = Callable[[str, ExpectationSpec, _Context], _Expansion]


def build_plan(suite: SuiteSpec, data: pa.Table, related: Mapping[str, pa.Table] | None,
               fk_limit: int) -> Plan:
    """The checks of `suite` for `data`, and `data` with any derived columns they need."""
    ctx = _Context(data=data, related=related or {}, fk_limit=fk_limit)
    checks: list[Check] = []
    derived: dict[str, pa.ChunkedArray] = {}
    for index, spec in enumerate(suite.expectations):
        expansion = EXTENSIONS.get(spec.expectation, _plain)(str(index), spec, ctx)
        checks.extend(expansion.checks)
        derived.update(expansion.derived)
    for name, values in derived.items():
        data = data.append_column(name, values)
    return Plan(data=data, checks=tuple(checks))


def _plain(key: str, spec: ExpectationSpec, ctx: _Context) -> _Expansion:
    return _Expansion([Check(key, spec, spec.expectation, dict(spec.kwargs), spec.where)])


def _failed(key: str, spec: ExpectationSpec, message: str) -> _Expansion:
    column = spec.kwargs.get("column")
    kwargs = {"column": column} if column else {}
    return _Expansion([Check(key, spec, spec.expectation, kwargs, spec.where, error=message)])


def _safe_name(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", text)


def _related_table(related: Mapping[str, pa.Table], name: str) -> pa.Table | None:
    """`related` may be keyed by the qualified name (`analytics.person`) or the bare one (`person`)."""
    return related.get(name, related.get(name.split(".", 1)[-1]))


def _foreign_key(key: str, spec: ExpectationSpec, ctx: _Context) -> _Expansion:
    column, ref_table, ref_column = (spec.kwargs[k] for k in ("column", "ref_table", "ref_column"))
    reference = _related_table(ctx.related, ref_table)
    if reference is None or ref_column not in reference.column_names:
        return _failed(key, spec, f"reference {ref_table}.{ref_column} was not supplied")
    if column not in ctx.data.column_names:
        return _failed(key, spec, f"column {column} is missing")
    ref_values = pc.unique(reference[ref_column].drop_null())
    label = f"in {ref_table}.{ref_column}"
    if len(ref_values) <= ctx.fk_limit:
        parameter = _safe_name(f"fk_{column}_{ref_table}_{ref_column}")
        kwargs = {"column": column, "value_set": {"$PARAMETER": parameter}}
        return _Expansion([Check(key, spec, "expect_column_values_to_be_in_set", kwargs, spec.where, label,
                                 parameters={parameter: sorted(ref_values.to_pylist())})])
    flag_name = _safe_name(f"{column}__in_{ref_table}")
    values = ctx.data[column]
    flag = pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), pc.is_in(values, value_set=ref_values))
    kwargs = {"column": flag_name, "value_set": [True]}
    return _Expansion([Check(key, spec, "expect_column_values_to_be_in_set", kwargs, spec.where, label,
                             example_column=column)], {flag_name: flag})


def _remainder(values: pa.ChunkedArray, base: int | float) -> pa.ChunkedArray:
    """values mod base (null stays null), in float64 so any numeric column works."""
    as_float = pc.cast(values, pa.float64())
    return pc.subtract(as_float, pc.multiply(pc.floor(pc.divide(as_float, float(base))), float(base)))


def _multiple_of_check(key: str, spec: ExpectationSpec, ctx: _Context, column: str,
                       base: int | float) -> _Expansion:
    if column not in ctx.data.column_names:
        return _failed(key, spec, f"column {column} is missing")
    try:
        remainder = _remainder(ctx.data[column], base)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _failed(key, spec, f"column {column} is not numeric")
    name = _safe_name(f"{column}__mod_{base}")
    check = Check(key, spec, "expect_column_values_to_be_in_set", {"column": name, "value_set": [0]},
                  spec.where, f"multiple of {base}", example_column=column)
    return _Expansion([check], {name: remainder})


def _multiple_of(key: str, spec: ExpectationSpec, ctx: _Context) -> _Expansion:
    return _multiple_of_check(key, spec, ctx, spec.kwargs["column"], spec.kwargs["base"])


def _disclosure_controlled(key: str, spec: ExpectationSpec, ctx: _Context) -> _Expansion:
    column, minimum, base = (spec.kwargs[k] for k in ("column", "min_value", "base"))
    at_least = Check(f"{key}.min", spec, "expect_column_values_to_be_between",
                     {"column": column, "min_value": minimum}, spec.where, f">= {minimum}")
    multiple = _multiple_of_check(f"{key}.base", spec, ctx, column, base)
    return _Expansion([at_least, *multiple.checks], multiple.derived)


def _range_keys(name: str, entry: Mapping[str, Any], key_field: str | None) -> list[Any]:
    if key_field is None:
        return [name]
    keys = entry.get(key_field)
    return list(keys) if isinstance(keys, list) else ([] if keys is None else [keys])


def _range_by(key: str, spec: ExpectationSpec, ctx: _Context) -> _Expansion:
    column, by, ranges = spec.kwargs["column"], spec.kwargs["by"], spec.kwargs["ranges"]
    key_field = spec.kwargs.get("key_field")
    checks = []
    for name, entry in ranges.items():
        keys = _range_keys(name, entry, key_field)
        if not keys or entry.get("min") is None or entry.get("max") is None:
            continue
        kwargs = {"column": column, "min_value": entry["min"], "max_value": entry["max"]}
        label = f"{by} is {name}" if key_field is None else f"{by} is a {name} code ({key_field})"
        checks.append(Check(f"{key}.{name}", spec, "expect_column_values_to_be_between", kwargs,
                            {**spec.where, by: tuple(keys)}, label))
    return _Expansion(checks)


def _delimited_values_in_set(key: str, spec: ExpectationSpec, ctx: _Context) -> _Expansion:
    item = "(?:" + "|".join(re.escape(str(v)) for v in spec.kwargs["value_set"]) + ")"
    separator = re.escape(spec.kwargs["separator"])
    kwargs = {"column": spec.kwargs["column"], "regex": f"^{item}(?:{separator}{item})*$"}
    return _Expansion([Check(key, spec, "expect_column_values_to_match_regex", kwargs, spec.where,
                             f"{spec.kwargs['separator']}-separated items in the set")])


EXTENSIONS: dict[str, _Expander] = {
    "carebridge_foreign_key": _foreign_key,
    "carebridge_multiple_of": _multiple_of,
    "carebridge_range_by": _range_by,
    "carebridge_disclosure_controlled": _disclosure_controlled,
    "carebridge_delimited_values_in_set": _delimited_values_in_set,
}
