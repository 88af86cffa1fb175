"""Person records cleaned for comparison: one SQL expression per column kind of probabilistic.yaml."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa

from carebridge.linkage.model import ColumnRule, LinkageModel

__all__ = ["COMPARISON_KEY", "comparison_records", "column_sql"]

# The integer key of a record in every linkage table (records, scored pairs, clusters).
COMPARISON_KEY = "unique_id"


def _name(column: str) -> str:
    return f"nullif(regexp_replace(upper(strip_accents({column})), '[^A-Z]', '', 'g'), '')"


# A UK postcode, letters and digits only: outward code (area, district) then inward code (sector digit, unit).
UK_POSTCODE = "^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"


def _packed(column: str) -> str:
    return f"nullif(regexp_replace(upper(strip_accents({column})), '[^A-Z0-9]', '', 'g'), '')"


def _postcode(column: str) -> str:
    """UK-shaped: `AB1 2CD`; any other shape kept as its letters and digits (compared as text)."""
    packed = _packed(column)
    return (f"CASE WHEN regexp_matches({packed}, '{UK_POSTCODE}') "
            f"THEN left({packed}, length({packed}) - 3) || ' ' || right({packed}, 3) ELSE {packed} END")


def _postcode_sector(column: str) -> str:
    packed = _packed(column)
    return (f"CASE WHEN regexp_matches({packed}, '{UK_POSTCODE}') "
            f"THEN left({packed}, length({packed}) - 3) || ' ' || left(right({packed}, 3), 1) END")


def _postcode_district(column: str) -> str:
    packed = _packed(column)
    return (f"CASE WHEN regexp_matches({packed}, '{UK_POSTCODE}') THEN left({packed}, length({packed}) - 3) "
            f"WHEN length({packed}) > 2 THEN left({packed}, length({packed}) - 2) ELSE {packed} END")


def _date(column: str) -> str:
    return column


def _code(column: str) -> str:
    return f"nullif(trim({column}), '')"


_KINDS: dict[str, Callable[[str], str]] = {"name": _name, "postcode": _postcode, "postcode_sector": _postcode_sector,
                                           "postcode_district": _postcode_district, "date": _date, "code": _code}


def column_sql(rule: ColumnRule) -> str:
    """The cleaning expression of one column, unknown values made null."""
    expression = _KINDS[rule.kind](rule.source or rule.column)
    if rule.unknown:
        listed = ", ".join("'" + v.replace("'", "''") + "'" for v in rule.unknown)
        expression = f"CASE WHEN {expression} IN ({listed}) THEN NULL ELSE {expression} END"
    return f"{expression} AS {rule.column}"


def comparison_records(records: pa.Table, model: LinkageModel) -> pa.Table:
    """`unique_id`, the trustworthy NHS number (or null) and the model's cleaned columns.

    `records` carries `unique_id`, `nhs_number` and `trusted` (bool) beside the person columns.
    """
    columns = ",\n       ".join(column_sql(rule) for rule in model.columns)
    con = duckdb.connect()
    try:
        con.register("records", records)
        return con.sql(f"""
            SELECT {COMPARISON_KEY}, CASE WHEN trusted THEN nhs_number END AS nhs_number,
                   {columns}
            FROM records ORDER BY {COMPARISON_KEY}""").to_arrow_table()
    finally:
        con.close()
