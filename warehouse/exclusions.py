"""Who must be absent from analytics: national data opt-outs and GP type 1 objections (reference.md)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

__all__ = ["analytics_exclusions"]


def analytics_exclusions(persons: pa.Table, opt_outs: pa.Table) -> pa.Table:
    """person_id and reason for every person the analytics side must not hold.

    Direct-care outputs are not affected: this table is read only by the marts."""
    con = duckdb.connect()
    con.register("persons", persons.select(["person_id", "nhs_number", "type1_objection"]))
    con.register("opt_outs", opt_outs)
    result = con.sql("""
        SELECT person_id, 'national_data_opt_out' AS reason FROM persons
        WHERE nhs_number IN (SELECT replace(nhs_number, ' ', '') FROM opt_outs)
        UNION ALL
        SELECT person_id, 'type1_objection' FROM persons WHERE type1_objection
        ORDER BY person_id, reason""").to_arrow_table()
    con.close()
    return result
