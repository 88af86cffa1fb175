"""From scored pairs to people: which records link, which conflict, which are held apart.

Pure: Arrow tables in, Arrow tables out (DuckDB inside). The rules, in order:

1. Records sharing a valid NHS number are one person (the NHS number is the anchor). The group's
   main record is the highest-priority one (GP first, then latest month). A record that shares
   the number but whose evidence against the main record (match weight less the prior) is at
   most `nhs_split` is clearly someone else: it is held apart (its own person) and sent to
   review (`shared_nhs_number`).
2. Two records with different valid NHS numbers that score at least `nhs_conflict` are sent to
   review (`nhs_number_conflict`) and stay two people: an NHS number is never merged away.
3. A record without a trustworthy NHS number is scored against each NHS person it was compared
   with: per comparison, the best weight against any of the person's records, summed, plus the
   prior (so a person's GP record with another name counts against the person, even when the
   person's trust record, which has no name, agrees on everything it holds). It joins the best
   person scoring at least `link`, unless a second one scores within `ambiguity_margin`: then
   it is sent to review (`ambiguous_match`) and joins no NHS person directly.
4. Records without one that score at least `link` with each other form connected components.
   A component reaching one NHS person joins it (except a member whose own score against that
   person is at most `chain_veto`: it stands alone); reaching none, it is a person of its own;
   reaching several, its records keep their direct NHS person (or stand alone) and the component
   is sent to review (`cluster_conflict`).
5. Two such records that end up in one person but score at most `chain_veto` against each other
   cannot both stay: the one that linked with the lower weight stands alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from carebridge.linkage.model import Thresholds

__all__ = ["Resolution", "resolve", "connected_components", "REVIEW_KINDS", "CLUSTER_SCHEMA", "REVIEW_SCHEMA"]

REVIEW_KINDS = ("shared_nhs_number", "nhs_number_conflict", "ambiguous_match", "cluster_conflict")

# One row per record. A record of an NHS person has `anchor_nhs` (and no `cluster`); a record of
# a record-only person has `cluster`, the smallest unique_id of its records. `match_weight` is the
# score that linked it (null for NHS-number and unlinked records).
CLUSTER_SCHEMA = pa.schema([("unique_id", pa.int64()), ("cluster", pa.int64()), ("anchor_nhs", pa.string()),
                            ("match_method", pa.string()), ("match_weight", pa.float64())])
REVIEW_SCHEMA = pa.schema([("kind", pa.string()), ("unique_id_l", pa.int64()), ("unique_id_r", pa.int64()),
                           ("match_weight", pa.float64())])


@dataclass(frozen=True)
class Resolution:
    clusters: pa.Table   # CLUSTER_SCHEMA
    reviews: pa.Table    # REVIEW_SCHEMA


def connected_components(con: duckdb.DuckDBPyConnection, nodes: str, edges: str, out: str) -> None:
    """Create table `out(node, component)`: the smallest node id reachable from each node.

    `nodes(node)` and `edges(a, b)` are tables or views; label propagation until nothing changes.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _cc_edges AS SELECT a, b FROM {edges} UNION ALL SELECT b, a FROM {edges}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT node, node AS component FROM {nodes}")
    while True:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _cc_next AS
            SELECT c.node, least(c.component, coalesce(min(n.component), c.component)) AS component
            FROM {out} c LEFT JOIN _cc_edges e ON e.a = c.node LEFT JOIN {out} n ON n.node = e.b
            GROUP BY c.node, c.component""")
        changed = con.sql(f"SELECT count(*) FROM _cc_next x JOIN {out} c USING (node) "
                          "WHERE x.component <> c.component").fetchall()[0][0]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM _cc_next")
        if changed == 0:
            break
    con.execute("DROP TABLE IF EXISTS _cc_next; DROP TABLE IF EXISTS _cc_edges")


_ANCHORS_SQL = """
CREATE TEMP TABLE main_record AS
SELECT nhs_number, unique_id AS main_id FROM (
    SELECT nhs_number, unique_id, row_number() OVER (
        PARTITION BY nhs_number ORDER BY priority, reporting_month DESC NULLS LAST, unique_id) AS rn
    FROM records WHERE trusted)
WHERE rn = 1;

CREATE TEMP TABLE held AS
SELECT r.unique_id, m.main_id, p.match_weight
FROM records r JOIN main_record m USING (nhs_number)
JOIN pairs p ON p.unique_id_l = least(r.unique_id, m.main_id) AND p.unique_id_r = greatest(r.unique_id, m.main_id)
WHERE r.trusted AND r.unique_id <> m.main_id AND p.match_weight - {prior} <= {nhs_split};

CREATE TEMP TABLE node AS
SELECT r.unique_id,
       CASE WHEN r.trusted AND h.unique_id IS NULL THEN r.nhs_number END AS anchor_nhs,
       h.unique_id IS NOT NULL AS held
FROM records r LEFT JOIN held h USING (unique_id);
"""

# Pairs between two free records (no anchor, not held) that link; and, for each free record and
# NHS person, how the record scores against the person: the sum over comparisons of the best
# weight against any of the person's records (`w_*` columns; a comparison no record of the
# person can make counts 0), plus the prior. Without `w_*` columns: the best pair weight.
_EDGES_SQL = """
CREATE TEMP TABLE free_edge AS
SELECT p.unique_id_l AS a, p.unique_id_r AS b, p.match_weight
FROM pairs p JOIN node l ON l.unique_id = p.unique_id_l JOIN node r ON r.unique_id = p.unique_id_r
WHERE p.match_weight >= {link} AND NOT l.held AND NOT r.held AND l.anchor_nhs IS NULL AND r.anchor_nhs IS NULL;

CREATE TEMP TABLE free_to_person AS
SELECT CASE WHEN l.anchor_nhs IS NULL THEN p.unique_id_l ELSE p.unique_id_r END AS free_id,
       coalesce(l.anchor_nhs, r.anchor_nhs) AS anchor_nhs, p.*
FROM pairs p JOIN node l ON l.unique_id = p.unique_id_l JOIN node r ON r.unique_id = p.unique_id_r
WHERE NOT l.held AND NOT r.held AND (l.anchor_nhs IS NULL) <> (r.anchor_nhs IS NULL);

CREATE TEMP TABLE person_score AS
SELECT free_id, anchor_nhs, {person_weight} AS match_weight FROM free_to_person GROUP BY ALL;

CREATE TEMP TABLE to_anchor AS SELECT * FROM person_score WHERE match_weight >= {link};

CREATE TEMP TABLE ranked_anchor AS
SELECT *, row_number() OVER (PARTITION BY free_id ORDER BY match_weight DESC, anchor_nhs) AS rank,
       lead(match_weight) OVER (PARTITION BY free_id ORDER BY match_weight DESC, anchor_nhs) AS runner_up
FROM to_anchor;

CREATE TEMP TABLE direct AS
SELECT free_id, anchor_nhs, match_weight, runner_up,
       runner_up IS NOT NULL AND match_weight - runner_up < {margin} AS ambiguous
FROM ranked_anchor WHERE rank = 1;

CREATE TEMP TABLE free_node AS SELECT unique_id AS node FROM node WHERE anchor_nhs IS NULL AND NOT held;
"""

_CLUSTERS_SQL = """
CREATE TEMP TABLE member AS
SELECT c.node AS unique_id, c.component,
       CASE WHEN NOT d.ambiguous THEN d.anchor_nhs END AS direct_nhs, d.match_weight AS direct_weight
FROM component c LEFT JOIN direct d ON d.free_id = c.node;

CREATE TEMP TABLE component_anchor AS
SELECT component, count(DISTINCT direct_nhs) AS anchors, min(direct_nhs) AS only_nhs, count(*) AS size,
       max(direct_weight) AS best_weight
FROM member GROUP BY component;

CREATE TEMP TABLE component_weight AS
SELECT m.component, max(e.match_weight) AS match_weight
FROM free_edge e JOIN member m ON m.unique_id = e.a GROUP BY m.component;

-- A member reaching its component's NHS person only through other records stays out when its
-- own score against that person is at most `chain_veto`: no chaining a record into a person it
-- contradicts.
CREATE TEMP TABLE free_cluster AS
SELECT m.unique_id, m.component, a.size, w.match_weight AS component_weight, m.direct_weight,
       CASE WHEN a.anchors = 1 AND coalesce(s.match_weight, {chain_veto} + 1) > {chain_veto} THEN a.only_nhs
            WHEN a.anchors >= 2 THEN m.direct_nhs END AS anchor_nhs,
       (a.anchors >= 2 AND m.direct_nhs IS NULL) OR (a.anchors = 1 AND s.match_weight <= {chain_veto}) AS stranded
FROM member m JOIN component_anchor a USING (component) LEFT JOIN component_weight w USING (component)
LEFT JOIN person_score s ON s.free_id = m.unique_id AND s.anchor_nhs = a.only_nhs AND a.anchors = 1;

-- Two records without NHS numbers that ended up together but contradict each other (their own
-- pair scores at most `chain_veto`): the one that linked with the lower weight stands alone.
CREATE TEMP TABLE contradicted AS
SELECT DISTINCT CASE WHEN (coalesce(a.direct_weight, a.component_weight), a.unique_id)
                          < (coalesce(b.direct_weight, b.component_weight), b.unique_id)
                     THEN a.unique_id ELSE b.unique_id END AS unique_id
FROM pairs p JOIN free_cluster a ON a.unique_id = p.unique_id_l JOIN free_cluster b ON b.unique_id = p.unique_id_r
WHERE p.match_weight <= {chain_veto} AND NOT a.stranded AND NOT b.stranded
  AND coalesce(a.anchor_nhs, a.component::VARCHAR) = coalesce(b.anchor_nhs, b.component::VARCHAR);

UPDATE free_cluster SET stranded = true, anchor_nhs = NULL WHERE unique_id IN (SELECT unique_id FROM contradicted);

CREATE TEMP TABLE cluster AS
SELECT unique_id, NULL::BIGINT AS cluster, anchor_nhs, 'nhs_number' AS match_method, NULL::DOUBLE AS match_weight
FROM node WHERE anchor_nhs IS NOT NULL
UNION ALL
SELECT unique_id, unique_id, NULL, 'unlinked', NULL FROM node WHERE held
UNION ALL
SELECT unique_id,
       CASE WHEN anchor_nhs IS NULL THEN (CASE WHEN stranded THEN unique_id ELSE component END) END,
       anchor_nhs,
       CASE WHEN anchor_nhs IS NOT NULL OR (size > 1 AND NOT stranded) THEN 'probabilistic' ELSE 'unlinked' END,
       CASE WHEN anchor_nhs IS NOT NULL THEN coalesce(direct_weight, component_weight)
            WHEN size > 1 AND NOT stranded THEN component_weight END
FROM free_cluster;
"""

_REVIEWS_SQL = """
SELECT 'shared_nhs_number' AS kind, least(main_id, unique_id) AS unique_id_l, greatest(main_id, unique_id) AS unique_id_r,
       match_weight
FROM held
UNION ALL
SELECT 'nhs_number_conflict', p.unique_id_l, p.unique_id_r, p.match_weight
FROM pairs p JOIN node l ON l.unique_id = p.unique_id_l JOIN node r ON r.unique_id = p.unique_id_r
WHERE l.anchor_nhs IS NOT NULL AND r.anchor_nhs IS NOT NULL AND l.anchor_nhs <> r.anchor_nhs
  AND p.match_weight >= {nhs_conflict}
UNION ALL
SELECT 'ambiguous_match', d.free_id, NULL, d.match_weight FROM direct d WHERE d.ambiguous
UNION ALL
SELECT 'cluster_conflict', m.unique_id, NULL, m.direct_weight
FROM member m JOIN component_anchor a USING (component) WHERE a.anchors >= 2
ORDER BY kind, unique_id_l, unique_id_r
"""


def _person_weight(pairs: pa.Table, prior: float) -> str:
    weights = [c for c in pairs.column_names if c.startswith("w_")]
    if not weights:
        return "max(match_weight)"
    return " + ".join([repr(float(prior))] + [f"coalesce(max({w}), 0)" for w in weights])


def resolve(records: pa.Table, pairs: pa.Table, thresholds: Thresholds, prior: float = 0.0) -> Resolution:
    """`records`: unique_id, nhs_number, trusted, priority, reporting_month; `pairs`: scored pairs
    (unique_id_l < unique_id_r, match_weight, optional `w_*`); `prior`: the log2 prior odds inside
    match_weight (the NHS split rule weighs the evidence alone). Returns clusters and review rows."""
    con = duckdb.connect()
    try:
        con.register("records", records.select(["unique_id", "nhs_number", "trusted", "priority", "reporting_month"]))
        con.register("pairs", pairs)
        con.execute(_ANCHORS_SQL.format(nhs_split=float(thresholds.nhs_split), prior=float(prior)))
        con.execute(_EDGES_SQL.format(link=float(thresholds.link), margin=float(thresholds.ambiguity_margin),
                                      person_weight=_person_weight(pairs, prior)))
        connected_components(con, "free_node", "free_edge", "component")
        con.execute(_CLUSTERS_SQL.format(chain_veto=float(thresholds.chain_veto)))
        clusters = con.sql("SELECT * FROM cluster ORDER BY unique_id").to_arrow_table().cast(CLUSTER_SCHEMA)
        reviews = con.sql(_REVIEWS_SQL.format(nhs_conflict=float(thresholds.nhs_conflict))).to_arrow_table()
        return Resolution(clusters=clusters, reviews=reviews.cast(REVIEW_SCHEMA))
    finally:
        con.close()
