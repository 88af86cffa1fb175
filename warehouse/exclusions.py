"""Who must be absent from analytics: national data opt-outs and GP type 1 objections (reference.md).

Both apply to uses beyond individual care, so they shape only the `analytics` and `published`
schemas (every mart joins through `work.m_person_ref`, which leaves these people out);
the direct-care FHIR output is built without reading this table.

Matching is on the person index: a person is excluded when their NHS number is on the opt-out
list (spaces and hyphens ignored, as numbers are often written 3-3-4) or any of their GP records
carries the type 1 objection flag. A record that could not be linked to the person (no valid NHS
number) cannot be matched, which is why linkage quality matters here too.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

__all__ = ["EXCLUSION_REASONS", "analytics_exclusions"]

EXCLUSION_REASONS = ("national_data_opt_out", "type1_objection")

_EXCLUSIONS_SQL = """
SELECT person_id, 'national_data_opt_out' AS reason FROM persons
WHERE nhs_number IN (SELECT regexp_replace(nhs_number, '[\\s-]', '', 'g') FROM opt_outs WHERE nhs_number IS NOT NULL)
UNION ALL
SELECT person_id, 'type1_objection' FROM persons WHERE type1_objection
ORDER BY person_id, reason
"""


def analytics_exclusions(persons: pa.Table, opt_outs: pa.Table) -> pa.Table:
    """person_id and reason for every person the analytics side must not hold (a person with both
    reasons has two rows)."""
    con = duckdb.connect()
    try:
        con.register("persons", persons.select(["person_id", "nhs_number", "type1_objection"]))
        con.register("opt_outs", opt_outs.select(["nhs_number"]))
        return con.sql(_EXCLUSIONS_SQL).to_arrow_table()
    finally:
        con.close()
