"""Row validation of one file's text columns against its TableSpec, vectorised with pyarrow.compute.

`validate(spec, text, all_text)` types every column and returns, per row, the reason it must be
quarantined (null when the row is fine) and a human-readable detail. A row with several problems
gets the first reason in defaults.yaml `reason_order` (cross-field rules share one slot);
`duplicate_key` is decided last, among the rows with no other problem, so the first good copy of
a key is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.core import nhs_number
from carebridge.staging.codelists import code_values, range_lookup
from carebridge.staging.tables import NHS_NUMBER_CHECK, ColumnSpec, TableSpec, ValueRange, defaults

__all__ = ["Finding", "Validated", "validate", "parse_column", "normalise_nhs_numbers", "first_of_groups"]

_TEXT = pa.string()
Columns = dict[str, pa.Array]  # column name -> one text (or typed) array
Render = Callable[[pa.Array], pa.Array]  # row positions -> detail text for those rows
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_DATETIME = r"^\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3])(:[0-5]\d(:[0-5]\d(\.\d+)?)?)?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?$"
_ZONED = r"[T ]\d{2}.*(Z|[+-]\d{2}:?\d{2})$"
_INT = r"^[+-]?\d+(\.0*)?$"
_DECIMAL = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INVALID_REASON = {"date": "invalid_date", "datetime": "invalid_date", "int": "invalid_number",
                   "decimal": "invalid_number", "bool": "invalid_bool"}


@dataclass(frozen=True)
class Finding:
    """Rows failing one check: a boolean mask, the reason code and a per-row detail."""

    reason: str
    mask: pa.BooleanArray
    detail: Render | str  # a str is the same detail for every row


@dataclass(frozen=True)
class Validated:
    typed: pa.Table  # spec columns typed, then flag columns; every row (filter with `ok`)
    reason: pa.StringArray  # null where the row is fine
    detail: pa.StringArray

    @property
    def ok(self) -> pa.BooleanArray:
        return pc.is_null(self.reason)


# ---------------------------------------------------------------- small helpers

def _detail(*parts: pa.Array | str) -> Render:
    """A detail renderer: literals and (typed) columns joined, evaluated only for the rows quarantined."""
    def render(rows: pa.Array) -> pa.Array:
        texts = [p if isinstance(p, str) else pc.cast(pc.take(p, rows), _TEXT) for p in parts]
        return pc.binary_join_element_wise(*texts, "", null_handling="replace", null_replacement="")
    return render


def _mask(values: pa.Array) -> pa.BooleanArray:
    """A boolean array with nulls read as False."""
    return pc.fill_null(values, False)


def _safe_cast(values: pa.Array, to: pa.DataType) -> pa.Array:
    """Cast, turning only the values that fail into nulls (halving until the culprits are found)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    try:
        return pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return pa.nulls(1, to)
        mid = len(values) // 2
        return pa.concat_arrays([_safe_cast(values.slice(0, mid), to), _safe_cast(values.slice(mid), to)])


def _matching(values: pa.Array, pattern: str) -> pa.Array:
    """Values matching a regex, others null."""
    return pc.if_else(_mask(pc.match_substring_regex(values, pattern)), values, pa.scalar(None, values.type))


# ---------------------------------------------------------------- parsing

def _parse_date(values: pa.Array) -> pa.Array:
    """ISO dates; impossible ones (2024-02-30) are null."""
    candidates = _matching(values, _DATE)
    try:
        return pc.cast(candidates, pa.date32())  # strict and fast: the usual case
    except pa.ArrowInvalid:
        # strptime rolls 2024-02-30 over to 2024-03-01: keep only dates that survive a round trip
        parsed = pc.cast(pc.strptime(candidates, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        exact = _mask(pc.equal(pc.cast(parsed, _TEXT), candidates))
        return pc.if_else(exact, parsed, pa.scalar(None, pa.date32()))


def _parse_datetime(values: pa.Array) -> pa.Array:
    """ISO 8601 date-times to whole seconds; values with a zone are converted to UTC, then the zone dropped."""
    date_ok = pc.is_valid(_parse_date(pc.utf8_slice_codeunits(values, 0, 10)))
    candidates = pc.if_else(date_ok, _matching(values, _DATETIME), pa.scalar(None, _TEXT))
    candidates = pc.replace_substring_regex(candidates, r"\.\d+", "")  # fractions of a second
    zoned = _mask(pc.match_substring_regex(candidates, _ZONED))
    none = pa.scalar(None, _TEXT)
    local = _safe_cast(pc.if_else(zoned, none, candidates), pa.timestamp("s"))
    utc = _safe_cast(pc.if_else(zoned, candidates, none), pa.timestamp("s", "UTC")).cast(pa.timestamp("s"))
    return pc.if_else(zoned, utc, local)


def _parse_bool(values: pa.Array) -> pa.Array:
    words = pc.utf8_lower(values)
    spelled = defaults()["bool_values"]
    true = pc.is_in(words, pa.array(spelled["true"], _TEXT))
    false = pc.is_in(words, pa.array(spelled["false"], _TEXT))
    return pc.if_else(true, True, pc.if_else(false, pa.scalar(False), pa.scalar(None, pa.bool_())))


def parse_column(values: pa.Array, type_name: str) -> pa.Array:
    """Text -> the column's Arrow type; values that do not parse become null."""
    if type_name == "text":
        return values
    values = pc.utf8_trim_whitespace(values)
    if type_name == "date":
        return _parse_date(values)
    if type_name == "datetime":
        return _parse_datetime(values)
    if type_name == "int":
        return _safe_cast(pc.replace_substring_regex(_matching(values, _INT), r"\.0*$", ""), pa.int64())
    if type_name == "decimal":
        return _safe_cast(_matching(values, _DECIMAL), pa.float64())
    return _parse_bool(values)


def normalise_nhs_numbers(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(ten digits or null, check) with check `valid`, `invalid` (nulled) or `missing`."""
    digits = pc.replace_substring_regex(values, r"[\s-]", "")
    present = _mask(pc.greater(pc.utf8_length(digits), 0))
    unique = pc.unique(digits.filter(present)).to_pylist()
    valid_numbers = pa.array([d for d in unique if nhs_number.is_valid(d)], _TEXT)
    valid = _mask(pc.is_in(digits, valid_numbers))
    check = pc.if_else(valid, "valid", pc.if_else(present, "invalid", "missing"))
    return pc.if_else(valid, digits, pa.scalar(None, _TEXT)), check


# ---------------------------------------------------------------- checks

def _missing_required(spec: TableSpec, text: Columns) -> list[Finding]:
    return [Finding("missing_required", pc.is_null(text[c.name]), f"{c.name} is empty")
            for c in spec.columns if c.required]


def _invalid_values(spec: TableSpec, text: Columns, typed: Columns) -> list[Finding]:
    return [
        Finding(_INVALID_REASON[c.type], pc.and_(pc.is_valid(text[c.name]), pc.is_null(typed[c.name])),
                _detail(f"{c.name}='", text[c.name], f"' is not a valid {c.type}"))
        for c in spec.columns
        if c.type != "text"
    ]


def _dates_out_of_range(spec: TableSpec, typed: Columns) -> list[Finding]:
    findings = []
    for c in spec.columns:
        if c.type in ("date", "datetime"):
            lo, hi = spec.date_range(c)
            day = pc.cast(typed[c.name], pa.date32())
            outside = _mask(pc.or_(pc.less(day, pa.scalar(lo)), pc.greater(day, pa.scalar(hi))))
            findings.append(Finding("date_out_of_range", outside, _detail(f"{c.name}=", day, f" outside {lo}..{hi}")))
    return findings


def _unknown_in_list(values: pa.Array, column: ColumnSpec) -> pa.BooleanArray:
    """Present values not in the column's code list (each element of a `multi` list is checked)."""
    valid = pa.array(sorted(code_values(column.codes)), _TEXT)
    if not column.multi:
        return pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, valid)))
    parts = pc.split_pattern(values, column.multi)
    elements = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    bad = pc.and_(pc.greater(pc.utf8_length(elements), 0), pc.invert(pc.is_in(elements, valid)))
    bad_rows = pc.unique(pc.list_parent_indices(parts).filter(bad))
    return pc.is_in(_positions(len(values)), bad_rows)


def _unknown_codes(spec: TableSpec, text: Columns) -> list[Finding]:
    return [
        Finding("unknown_code", _unknown_in_list(text[c.name], c), _detail(f"{c.name}='", text[c.name], "' is not a known code"))
        for c in spec.columns
        if c.codes and c.on_unknown == "quarantine"
    ]


def _code_flags(spec: TableSpec, text: Columns) -> Columns:
    """recognised / unrecognised (null when empty) for kept code columns with a flag column."""
    flags = {}
    for c in spec.columns:
        if c.flag_column and not c.nhs_number:
            flag = pc.if_else(_unknown_in_list(text[c.name], c), "unrecognised", "recognised")
            flags[c.flag_column] = pc.if_else(pc.is_valid(text[c.name]), flag, pa.scalar(None, _TEXT))
    return flags


def _range_bounds(rule: ValueRange, text: Columns) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(key text, lower bound, upper bound) per row; bounds null where the lookup has no entry."""
    lookup = range_lookup(rule.lookup)
    keys = pa.array(["\x1f".join(k) for k in lookup], _TEXT)
    key = pc.binary_join_element_wise(*(text[c] for c in rule.by), "\x1f")
    index = pc.index_in(key, keys)
    lows = pa.array([lo for lo, _ in lookup.values()], pa.float64())
    highs = pa.array([hi for _, hi in lookup.values()], pa.float64())
    return key, pc.take(lows, index), pc.take(highs, index)


def _value_ranges(spec: TableSpec, text: Columns, typed: Columns) -> list[Finding]:
    findings = []
    for rule in spec.value_ranges:
        key, low, high = _range_bounds(rule, text)
        value = pc.cast(typed[rule.value], pa.float64())
        outside = _mask(pc.or_(pc.less(value, low), pc.greater(value, high)))
        findings.append(Finding("score_out_of_range", outside,
                                _detail(f"{rule.value}=", value, " outside ", low, "..", high)))
        if rule.when_not_found == "unknown_code":
            unmatched = _mask(pc.and_(pc.is_valid(key), pc.is_null(low)))
            names = ", ".join(rule.by)
            findings.append(Finding("unknown_code", unmatched,
                                    _detail(f"({names})=(", pc.replace_substring(key, "\x1f", ", "), ") is not known")))
    return findings


def _cross_field(spec: TableSpec, typed: Columns) -> list[Finding]:
    return [
        Finding(rule.reason, _mask(pc.less(typed[rule.column], typed[rule.not_before])),
                _detail(f"{rule.column}=", typed[rule.column], f" before {rule.not_before}=", typed[rule.not_before]))
        for rule in spec.rules
    ]


def first_of_groups(table: pa.Table, rows: pa.Array) -> pa.BooleanArray:
    """True for the first row (lowest position) of each group of equal values (nulls equal)."""
    names = [f"c{i}" for i in range(table.num_columns)]
    numbered = table.rename_columns(names).append_column("__row", rows)
    firsts = numbered.group_by(names).aggregate([("__row", "min")])["__row_min"]
    return pc.is_in(rows, firsts)


def _positions(n: int) -> pa.Array:
    return pa.array(np.arange(n, dtype=np.int64))


def _key_text(spec: TableSpec, text: Columns) -> pa.Array:
    """The local key as one text per row (key columns joined by '|')."""
    columns = [text[c] for c in spec.key]
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*columns, "|", null_handling="replace", null_replacement="")


def _repeated_keys(key: pa.Array) -> pa.BooleanArray:
    """Every row whose key occurs more than once in the file (usually none)."""
    if pc.count_distinct(key, mode="all").as_py() == len(key):
        return pa.array(np.zeros(len(key), dtype=bool))
    later = pc.invert(first_of_groups(pa.table({"k": key}), _positions(len(key))))
    return pc.is_in(key, pc.unique(key.filter(later)))


def _later_copies(table: pa.Table, among: pa.BooleanArray) -> pa.BooleanArray:
    """Rows within `among` equal to an earlier row within `among` (all columns of `table`)."""
    copy = np.zeros(table.num_rows, dtype=bool)
    chosen = among.to_numpy(zero_copy_only=False)
    if chosen.any():
        first = first_of_groups(table.filter(among), _positions(table.num_rows).filter(among))
        copy[chosen] = ~first.to_numpy(zero_copy_only=False)
    return pa.array(copy)


def _duplicate_rows(all_text: pa.Table, suspects: pa.BooleanArray) -> list[Finding]:
    """Exact copies of an earlier row (every column read, unknown ones included); copies share
    their key, so only rows whose key repeats are compared."""
    if all_text.num_columns == 0:
        return []
    return [Finding("duplicate_row", _later_copies(all_text, suspects), "repeats an earlier row of the file")]


def _duplicate_keys(spec: TableSpec, key: pa.Array, candidates: pa.BooleanArray) -> Finding:
    """Rows (among the good ones whose key repeats) with a key an earlier good row already has."""
    later = _later_copies(pa.table({"k": key}), candidates)
    return Finding("duplicate_key", later, _detail(f"{'|'.join(spec.key)}='", key, "' already on an earlier row"))


# ---------------------------------------------------------------- combining

def _slot(reason: str) -> int:
    order = defaults()["reason_order"]
    return order.index(reason) if reason in order else order.index("cross_field")


def _typed_columns(spec: TableSpec, text: Columns) -> tuple[Columns, Columns]:
    """Typed spec columns and flag columns (nhs_number_check, team_type_check)."""
    typed = {c.name: parse_column(text[c.name], c.type) for c in spec.columns}
    flags = _code_flags(spec, text)
    for c in spec.columns:
        if c.nhs_number:
            typed[c.name], flags[NHS_NUMBER_CHECK] = normalise_nhs_numbers(text[c.name])
    return typed, flags


def _add(reason: pa.Array, detail: pa.Array, finding: Finding) -> tuple[pa.Array, pa.Array]:
    """Give the rows this finding flags, and no earlier finding took, its reason and detail."""
    take = pc.and_(pc.is_null(reason), finding.mask)
    rows = pa.array(np.flatnonzero(take.to_numpy(zero_copy_only=False)), pa.int64())
    if len(rows) == 0:
        return reason, detail
    text = _constant_text(finding.detail, len(rows)) if isinstance(finding.detail, str) else finding.detail(rows)
    return (pc.replace_with_mask(reason, take, _constant_text(finding.reason, len(rows))),
            pc.replace_with_mask(detail, take, text))


def _constant_text(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, _TEXT), n)


def validate(spec: TableSpec, text: pa.Table, all_text: pa.Table) -> Validated:
    """Check one file. `text` has every spec column (text, null when absent); `all_text` every column read."""
    columns: Columns = {c: text[c].combine_chunks() for c in spec.column_names}
    n = text.num_rows
    typed, flags = _typed_columns(spec, columns)
    key = _key_text(spec, columns) if spec.key else None
    suspects = _repeated_keys(key) if key is not None else pa.array(np.ones(n, dtype=bool))
    findings = [
        *_duplicate_rows(all_text, suspects),
        *_missing_required(spec, columns),
        *_invalid_values(spec, columns, typed),
        *_dates_out_of_range(spec, typed),
        *_unknown_codes(spec, columns),
        *_value_ranges(spec, columns, typed),
        *_cross_field(spec, typed),
    ]
    reason, detail = pa.nulls(n, _TEXT), pa.nulls(n, _TEXT)
    for finding in sorted(findings, key=lambda f: _slot(f.reason)):
        reason, detail = _add(reason, detail, finding)
    if key is not None:
        candidates = pc.and_(suspects, pc.is_null(reason))
        reason, detail = _add(reason, detail, _duplicate_keys(spec, key, candidates))
    out = {c.name: typed[c.name] for c in spec.columns} | {f: flags[f] for f in spec.flag_columns}
    return Validated(pa.table(out), reason, detail)
