"""Referral matching (outputs.md): a GP's outbound referral and the receiving service's record of it.

Pairs are matched on the e-RS UBRN where both records carry one; otherwise on the same person,
the receiving organisation (the GP's `target_ods` = the receiver's provider) and a received date
0..14 days after the GP's date. Each record matches at most once and the nearest wins: the
result is the greedy matching over candidates ordered by (method, days apart, GP id, receiving id),
computed in rounds of mutually-best pairs, which gives exactly the greedy result.
"""

from __future__ import annotations

import pyarrow as pa

from fhir_mapping.context import MappingContext
from fhir_mapping.terminology import code_maps

__all__ = ["MATCH_SCHEMA", "match_referrals"]

MATCH_SCHEMA = pa.schema([
    ("gp_referral_id", pa.string()), ("gp_provider_ods", pa.string()), ("gp_local_id", pa.string()),
    ("receiving_id", pa.string()), ("receiving_source", pa.string()), ("receiving_provider_ods", pa.string()),
    ("receiving_table", pa.string()), ("receiving_local_id", pa.string()),
    ("match_method", pa.string()), ("days_after", pa.int64()),
])

# method_rank 0 (UBRN) always beats 1 (date window), so a UBRN pair is never displaced.
_CANDIDATES_SQL = """
CREATE OR REPLACE TEMP TABLE match_candidates AS
WITH gp AS (SELECT * FROM referrals WHERE source = 'gp'),
     rcv AS (SELECT * FROM referrals WHERE source <> 'gp')
SELECT gp.id AS gp_id, rcv.id AS rcv_id, 0 AS method_rank,
       date_diff('day', gp.received_date, rcv.received_date) AS days
FROM gp JOIN rcv ON gp.ubrn = rcv.ubrn
UNION ALL
SELECT gp.id, rcv.id, 1, date_diff('day', gp.received_date, rcv.received_date)
FROM gp JOIN rcv ON gp.person_id = rcv.person_id AND gp.service_ods = rcv.provider_ods
WHERE (gp.ubrn IS NULL OR rcv.ubrn IS NULL)
  AND date_diff('day', gp.received_date, rcv.received_date) BETWEEN $min_days AND $max_days
"""

# Pairs that are the best remaining candidate of both their GP referral and their receiving record.
_ROUND_SQL = """
WITH ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY gp_id ORDER BY method_rank, abs(days), days, rcv_id) AS gp_rank,
           row_number() OVER (PARTITION BY rcv_id ORDER BY method_rank, abs(days), days, gp_id) AS rcv_rank
    FROM match_candidates
)
SELECT gp_id, rcv_id, method_rank, days FROM ranked WHERE gp_rank = 1 AND rcv_rank = 1
"""

_DROP_MATCHED_SQL = """
DELETE FROM match_candidates
WHERE gp_id IN (SELECT gp_id FROM round_pairs) OR rcv_id IN (SELECT rcv_id FROM round_pairs)
"""

_RESULT_SQL = """
SELECT m.gp_id AS gp_referral_id, g.provider_ods AS gp_provider_ods, g.local_id AS gp_local_id,
       m.rcv_id AS receiving_id, r.source AS receiving_source, r.provider_ods AS receiving_provider_ods,
       r.table_name AS receiving_table, r.local_id AS receiving_local_id,
       CASE m.method_rank WHEN 0 THEN 'ubrn' ELSE 'date_window' END AS match_method,
       m.days::BIGINT AS days_after
FROM matched m JOIN referrals g ON g.id = m.gp_id JOIN referrals r ON r.id = m.rcv_id
ORDER BY gp_referral_id
"""


def match_referrals(ctx: MappingContext) -> pa.Table:
    """The GP referral <-> receiving record pairs (MATCH_SCHEMA) of the registered `referrals` frame."""
    window = code_maps()["referral_match_window_days"]
    ctx.con.execute(_CANDIDATES_SQL, {"min_days": window["min"], "max_days": window["max"]})
    rounds: list[pa.Table] = []
    while ctx.con.sql("SELECT count(*) FROM match_candidates").fetchall()[0][0]:
        pairs = ctx.sql(_ROUND_SQL)
        ctx.register("round_pairs", pairs)
        ctx.con.execute(_DROP_MATCHED_SQL)
        ctx.con.unregister("round_pairs")
        rounds.append(pairs)
    if not rounds:
        return MATCH_SCHEMA.empty_table()
    ctx.register("matched", pa.concat_tables(rounds))
    return ctx.sql(_RESULT_SQL).cast(MATCH_SCHEMA)
