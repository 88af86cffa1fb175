"""The staged tables as declared in `carebridge/staging/specs/*.yaml`: column specs, Arrow schemas, empty tables.

Downstream packages use `table_specs()` / `STAGED_TABLES` / `empty_table()` to rely on every
staged table and its exact schema, whether or not a file for it arrived.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from carebridge.core.layout import SOURCES

__all__ = [
    "SOURCES",
    "SPEC_DIR",
    "ARROW_TYPES",
    "METADATA_COLUMNS",
    "NHS_NUMBER_CHECK",
    "ColumnSpec",
    "CrossFieldRule",
    "ValueRange",
    "FromTable",
    "TableSpec",
    "defaults",
    "table_specs",
    "source_tables",
    "staged_schema",
    "empty_table",
    "STAGED_TABLES",
]

SPEC_DIR = Path(__file__).parent / "specs"

ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
    "int": pa.int64(),
    "decimal": pa.float64(),
    "bool": pa.bool_(),
}

# Provenance columns every staged table carries after its own columns (docs/internals.md).
METADATA_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("provider_ods", pa.string()),
    pa.field("reporting_month", pa.string()),
    pa.field("submission_id", pa.string()),
    pa.field("source_file", pa.string()),
    pa.field("source_line", pa.int64()),
)
NHS_NUMBER_CHECK = "nhs_number_check"


@dataclass(frozen=True)
class FromTable:
    """Take a column missing from a file from another table of the same submission."""

    table: str
    key: str


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    codes: str | None = None
    on_unknown: str = "quarantine"
    flag_column: str | None = None
    multi: str | None = None
    dates: str | None = None
    nhs_number: bool = False
    from_table: FromTable | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


@dataclass(frozen=True)
class CrossFieldRule:
    """`column` must not be before `not_before` (both dates; checked when both are present)."""

    column: str
    not_before: str
    reason: str


@dataclass(frozen=True)
class ValueRange:
    """`value` must lie in the range the lookup gives for the `by` columns."""

    value: str
    by: tuple[str, ...]
    lookup: str
    when_not_found: str = "skip"  # or "unknown_code"


@dataclass(frozen=True)
class TableSpec:
    source: str
    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    rules: tuple[CrossFieldRule, ...] = ()
    value_ranges: tuple[ValueRange, ...] = ()
    date_ranges: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.source}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def flag_columns(self) -> tuple[str, ...]:
        """Derived columns staging adds after the source columns (nhs_number_check, team_type_check)."""
        flags = [NHS_NUMBER_CHECK if c.nhs_number else c.flag_column for c in self.columns]
        return tuple(dict.fromkeys(f for f in flags if f))

    def date_range(self, column: ColumnSpec) -> tuple[dt.date, dt.date]:
        return self.date_ranges[column.dates or "event"]


def _load_yaml(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def defaults() -> dict[str, Any]:
    """defaults.yaml: date ranges, bool spellings, reason order."""
    return _load_yaml(SPEC_DIR / "defaults.yaml")


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _date_ranges(raw: dict[str, Any]) -> dict[str, tuple[dt.date, dt.date]]:
    return {name: (_as_date(lo), _as_date(hi)) for name, (lo, hi) in raw.items()}


def _column(raw: dict[str, Any]) -> ColumnSpec:
    raw = dict(raw)
    raw["aliases"] = tuple(raw.get("aliases", ()))
    if "from_table" in raw:
        raw["from_table"] = FromTable(**raw["from_table"])
    return ColumnSpec(**raw)


def _table(source: str, name: str, raw: dict[str, Any], ranges: dict[str, tuple[dt.date, dt.date]]) -> TableSpec:
    return TableSpec(
        source=source,
        name=name,
        key=tuple(raw.get("key", ())),
        columns=tuple(_column(c) for c in raw["columns"]),
        rules=tuple(CrossFieldRule(**r) for r in raw.get("rules", ())),
        value_ranges=tuple(ValueRange(**{**v, "by": tuple(v["by"])}) for v in raw.get("value_ranges", ())),
        date_ranges=ranges,
    )


@cache
def table_specs() -> dict[str, TableSpec]:
    """Every staged table, keyed `"<source>.<table>"`, in spec order."""
    specs: dict[str, TableSpec] = {}
    for source in SOURCES:
        raw = _load_yaml(SPEC_DIR / f"{source}.yaml")
        ranges = _date_ranges({**defaults()["date_ranges"], **raw.get("date_ranges", {})})
        for name, table in raw["tables"].items():
            spec = _table(source, name, table, ranges)
            specs[spec.qualified_name] = spec
    return specs


def source_tables(source: str) -> dict[str, TableSpec]:
    """The tables of one source keyed by their lower-case name (file names match case-insensitively)."""
    return {s.name.lower(): s for s in table_specs().values() if s.source == source}


def staged_schema(spec: TableSpec) -> pa.Schema:
    """Source columns (typed), then derived flag columns, then the provenance columns."""
    fields = [pa.field(c.name, c.arrow_type) for c in spec.columns]
    fields += [pa.field(f, pa.string()) for f in spec.flag_columns]
    return pa.schema(fields + list(METADATA_COLUMNS))


def empty_table(name: str) -> pa.Table:
    """A zero-row table with the staged schema of `"<source>.<table>"`."""
    return staged_schema(table_specs()[name]).empty_table()


STAGED_TABLES: tuple[str, ...] = tuple(table_specs())
