"""From scored pairs to people: which records link, which conflict, which are held apart.

Pure: Arrow tables in, Arrow tables out (DuckDB inside). The rules, in order:

0. Clerical decisions come first (`decisions`: pairs decided `match` or `non_match`): a decided
   pair scores +/-1000, overriding whatever the model said, and never comes back to review.
1. Two valid NHS numbers that differ in at most `nhs_typo_digits` digits on records whose evidence
   (match weight less the prior: the near-miss number is itself strong evidence, whatever the
   population's size) is at least `nhs_typo` (and not contradicting) are one number mistyped: the records with the rarer one take the other (the
   one with more records, then the higher-priority source) and the pair is listed for review
   (`nhs_number_typo`, linked).
2. Records sharing a valid NHS number are one person (the NHS number is the anchor) unless their
   demographics say otherwise: a pair of them *contradicts* when its evidence (match weight less
   the prior) is at most `nhs_split` or it meets one of the model's `contradictions` (a
   different birth date and name; the opposite sex and another given name; ...). The group's main
   record is the highest-priority one (GP first, then latest month) among those contradicted by
   no more of the group than agree with them. A record contradicting the main record, or in a group
   without a main record (two records that contradict each other), is held apart and sent to review
   (`shared_nhs_number`): it then links as a record without an NHS number would, but never back
   into the group it was held from. So is a record that matches a record under another NHS
   number at least as well as its main record and better by `ambiguity_margin` on the
   `personal` comparisons (given name, sex, ethnic category: what twins and household members do
   not share), a household member's number. The only record of a valid NHS number that matches
   a record of another number at least `nhs_conflict` with both names and the birth date agreeing
   (not a twin) is one person with a borrowed number: it links as its demographics say
   (review `nhs_number_borrowed`).
3. Two records with different valid NHS numbers that score at least `nhs_conflict` are sent to
   review (`nhs_number_conflict`) and stay two people.
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

__all__ = ["Resolution", "resolve", "connected_components", "REVIEW_KINDS", "REVIEW_REASONS", "CLUSTER_SCHEMA",
           "REVIEW_SCHEMA", "DECISION_SCHEMA", "DECISIONS"]

REVIEW_KINDS = ("shared_nhs_number", "nhs_number_borrowed", "nhs_number_conflict", "nhs_number_typo", "ambiguous_match",
                "cluster_conflict")

# Why each kind of review row is in the queue (shown by `carebridge linkage review`).
REVIEW_REASONS = {
    "shared_nhs_number": "held apart: shares a valid NHS number with a record whose demographics contradict it",
    "nhs_number_borrowed": "moved: the only record of its valid NHS number, it matches another person's record "
                           "on names and birth date (a borrowed number?)",
    "nhs_number_conflict": "kept apart: different valid NHS numbers, demographics match strongly",
    "nhs_number_typo": "linked: NHS numbers differ in a digit or two and the demographics match strongly (a typo?)",
    "ambiguous_match": "not linked: a second person scores almost as well",
    "cluster_conflict": "not linked: records that match each other reach several NHS persons",
}
DECISIONS = ("match", "non_match")
DECISION_WEIGHT = 1000.0

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


# Decisions override the model: a decided pair scores +/-DECISION_WEIGHT (added when not scored).
_DECIDED_SQL = """
CREATE TEMP TABLE pairs AS
SELECT p.* REPLACE (CASE d.decision WHEN 'match' THEN {big} WHEN 'non_match' THEN -{big} ELSE p.match_weight END
                    AS match_weight), d.decision
FROM pairs_in p LEFT JOIN decided d USING (unique_id_l, unique_id_r)
UNION ALL BY NAME
SELECT d.unique_id_l, d.unique_id_r, CASE d.decision WHEN 'match' THEN {big} ELSE -{big} END AS match_weight,
       CASE d.decision WHEN 'match' THEN 1.0 ELSE 0.0 END AS match_probability, d.decision
FROM decided d ANTI JOIN pairs_in p USING (unique_id_l, unique_id_r)
"""

_ALIAS_SQL = """
-- pairs whose demographics contradict (a decision overrides): never linked, held apart under one NHS number
CREATE TEMP TABLE contra_pair AS
SELECT p.unique_id_l AS a, p.unique_id_r AS b, p.match_weight, p.decision,
              coalesce(p.decision = 'non_match', false)
       OR (p.decision IS NULL AND coalesce({contradiction}, false)) AS contra
FROM pairs p JOIN records_in l ON l.unique_id = p.unique_id_l JOIN records_in r ON r.unique_id = p.unique_id_r;

CREATE TEMP TABLE nhs_size AS
SELECT nhs_number, count(*) AS n, min(priority) AS best FROM records_in WHERE trusted GROUP BY nhs_number;

CREATE TEMP TABLE typo_pair AS
SELECT p.unique_id_l, p.unique_id_r, p.match_weight, l.nhs_number AS nhs_l, r.nhs_number AS nhs_r
FROM pairs p JOIN records_in l ON l.unique_id = p.unique_id_l JOIN records_in r ON r.unique_id = p.unique_id_r
JOIN contra_pair c ON c.a = p.unique_id_l AND c.b = p.unique_id_r
WHERE l.trusted AND r.trusted AND l.nhs_number <> r.nhs_number AND NOT c.contra
  AND (p.decision = 'match' OR (p.decision IS NULL AND p.match_weight - {prior} >= {nhs_typo}
       AND length(l.nhs_number) = length(r.nhs_number) AND hamming(l.nhs_number, r.nhs_number) <= {digits}));

CREATE TEMP TABLE alias AS
SELECT from_nhs, min(to_nhs) AS to_nhs FROM (
    SELECT CASE WHEN (a.n, -a.best, b.nhs_number) > (b.n, -b.best, a.nhs_number) THEN b.nhs_number ELSE a.nhs_number END AS from_nhs,
           CASE WHEN (a.n, -a.best, b.nhs_number) > (b.n, -b.best, a.nhs_number) THEN a.nhs_number ELSE b.nhs_number END AS to_nhs
    FROM typo_pair t JOIN nhs_size a ON a.nhs_number = t.nhs_l JOIN nhs_size b ON b.nhs_number = t.nhs_r)
GROUP BY from_nhs;

-- one more step, so a chain a -> b -> c ends at c
CREATE TEMP TABLE alias2 AS
SELECT a.from_nhs, coalesce(b.to_nhs, a.to_nhs) AS to_nhs FROM alias a LEFT JOIN alias b ON b.from_nhs = a.to_nhs
WHERE a.from_nhs <> coalesce(b.to_nhs, a.to_nhs);

CREATE TEMP TABLE records AS
SELECT r.* REPLACE (CASE WHEN r.trusted THEN coalesce(a.to_nhs, r.nhs_number) ELSE r.nhs_number END AS nhs_number)
FROM records_in r LEFT JOIN alias2 a ON a.from_nhs = r.nhs_number;
"""

_ANCHORS_SQL = """
CREATE TEMP TABLE group_pair AS
SELECT c.a, c.b, c.match_weight, c.decision,
       c.contra OR (c.decision IS NULL AND c.match_weight - {prior} <= {nhs_split}) AS contra
FROM contra_pair c JOIN records l ON l.unique_id = c.a JOIN records r ON r.unique_id = c.b
WHERE l.trusted AND r.trusted AND l.nhs_number = r.nhs_number;

CREATE TEMP TABLE support AS
SELECT id, count(*) FILTER (WHERE contra) AS against, count(*) FILTER (WHERE NOT contra) AS agree,
       coalesce(sum(match_weight) FILTER (WHERE NOT contra), 0) AS agree_weight
FROM (SELECT a AS id, contra, match_weight FROM group_pair UNION ALL SELECT b, contra, match_weight FROM group_pair)
GROUP BY id;

CREATE TEMP TABLE main_record AS
SELECT nhs_number, unique_id AS main_id FROM (
    SELECT r.nhs_number, r.unique_id, row_number() OVER (
        PARTITION BY r.nhs_number
        -- of two records of one source (a twin's record under its sibling's number), the one the
        -- group agrees with more, and more strongly
        ORDER BY r.priority, coalesce(s.agree, 0) - coalesce(s.against, 0) DESC, coalesce(s.agree_weight, 0) DESC,
                 r.reporting_month DESC NULLS LAST, r.unique_id) AS rn
    FROM records r LEFT JOIN support s ON s.id = r.unique_id
    WHERE r.trusted AND coalesce(s.agree, 0) >= coalesce(s.against, 0))
WHERE rn = 1;

-- each record's best pair, without contradiction, with a record under another valid NHS number
-- whose names and birth date agree with it (the evidence that tells one person from a twin)
CREATE TEMP TABLE other_pair AS
SELECT c.a AS id, c.b AS other_id, c.match_weight
FROM contra_pair c JOIN records l ON l.unique_id = c.a JOIN records r ON r.unique_id = c.b
WHERE l.trusted AND r.trusted AND l.nhs_number <> r.nhs_number AND NOT c.contra AND c.decision IS NULL AND {named};

CREATE TEMP TABLE elsewhere AS
SELECT id, max(match_weight) AS best_named, arg_max(other_id, match_weight) AS named_id
FROM (SELECT id, other_id, match_weight FROM other_pair UNION ALL SELECT other_id, id, match_weight FROM other_pair)
GROUP BY id;

-- each record's pairs, without contradiction, with records under another valid NHS number: the
-- weight and its personal part (the comparisons household members and twins do not share)
CREATE TEMP TABLE personal_pair AS
SELECT c.a, c.b, c.match_weight, {personal} AS personal, l.nhs_number <> r.nhs_number AS other, c.contra, c.decision
FROM contra_pair c JOIN pairs p ON p.unique_id_l = c.a AND p.unique_id_r = c.b
JOIN records l ON l.unique_id = c.a JOIN records r ON r.unique_id = c.b
WHERE l.trusted AND r.trusted;

CREATE TEMP TABLE personal_elsewhere AS
SELECT id, match_weight, personal FROM (
    SELECT a AS id, match_weight, personal FROM personal_pair WHERE other AND NOT contra AND decision IS NULL
    UNION ALL SELECT b, match_weight, personal FROM personal_pair WHERE other AND NOT contra AND decision IS NULL)
WHERE match_weight >= {link};

CREATE TEMP TABLE group_size AS SELECT nhs_number, count(*) AS n FROM records WHERE trusted GROUP BY nhs_number;

CREATE TEMP TABLE held AS
SELECT r.unique_id, r.nhs_number, m.main_id,
       CASE WHEN r.unique_id = m.main_id THEN e.best_named ELSE g.match_weight END AS match_weight,
       CASE WHEN r.unique_id = m.main_id THEN e.named_id END AS other_id
FROM records r LEFT JOIN main_record m USING (nhs_number)
LEFT JOIN group_pair g ON g.a = least(r.unique_id, m.main_id) AND g.b = greatest(r.unique_id, m.main_id)
LEFT JOIN support s ON s.id = r.unique_id
LEFT JOIN elsewhere e ON e.id = r.unique_id
LEFT JOIN group_size z ON z.nhs_number = r.nhs_number
LEFT JOIN records o ON o.unique_id = e.named_id
LEFT JOIN group_size oz ON oz.nhs_number = o.nhs_number
LEFT JOIN personal_pair gp ON gp.a = least(r.unique_id, m.main_id) AND gp.b = greatest(r.unique_id, m.main_id)
WHERE r.trusted AND (
  -- never compared with the main record (it came into the group through a mistyped number): held
  -- unless some record of the group agrees with it
  (r.unique_id IS DISTINCT FROM m.main_id
   AND (m.main_id IS NULL OR coalesce(g.contra, coalesce(s.agree, 0) = 0 AND coalesce(s.against, 0) > 0)))
  -- it matches a record under another NHS number at least as well as its group's main record, and
  -- clearly better on what household members and twins do not share (given name, sex, ethnic
  -- category; not the address or birth date): a household member's or twin's number
  OR (r.unique_id <> m.main_id AND NOT g.contra AND g.decision IS NULL
      AND EXISTS (SELECT 1 FROM personal_elsewhere x WHERE x.id = r.unique_id AND x.match_weight >= g.match_weight
                  AND x.personal - gp.personal >= {margin}))
  -- the only record of its NHS number, matching a record of another number strongly on given name
  -- and birth date as well (not twins): one person, one number borrowed; of two such lone records
  -- the later (lower priority) one gives way
  OR (r.unique_id = m.main_id AND z.n = 1 AND e.best_named >= {nhs_conflict}
      AND (oz.n > 1 OR (r.priority, r.unique_id) > (o.priority, o.unique_id))));

CREATE TEMP TABLE node AS
SELECT r.unique_id,
       CASE WHEN r.trusted AND h.unique_id IS NULL THEN r.nhs_number END AS anchor_nhs,
       h.unique_id IS NOT NULL AS held, h.nhs_number AS held_from
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
LEFT JOIN contra_pair g ON g.a = p.unique_id_l AND g.b = p.unique_id_r
WHERE p.match_weight >= {link} AND l.anchor_nhs IS NULL AND r.anchor_nhs IS NULL AND NOT coalesce(g.contra, false);

CREATE TEMP TABLE free_to_person AS
SELECT CASE WHEN l.anchor_nhs IS NULL THEN p.unique_id_l ELSE p.unique_id_r END AS free_id,
       coalesce(l.anchor_nhs, r.anchor_nhs) AS anchor_nhs, p.*, coalesce(g.contra, false) AS contra
FROM pairs p JOIN node l ON l.unique_id = p.unique_id_l JOIN node r ON r.unique_id = p.unique_id_r
LEFT JOIN contra_pair g ON g.a = p.unique_id_l AND g.b = p.unique_id_r
WHERE (l.anchor_nhs IS NULL) <> (r.anchor_nhs IS NULL)
  AND (coalesce(l.held_from, r.held_from) IS DISTINCT FROM coalesce(l.anchor_nhs, r.anchor_nhs) OR p.decision = 'match');

CREATE TEMP TABLE person_score AS
SELECT free_id, anchor_nhs,
       CASE WHEN bool_or(decision = 'non_match') THEN -{big} WHEN bool_or(decision = 'match') THEN {big}
            WHEN bool_or(contra) THEN least({person_weight}, {chain_veto}) ELSE {person_weight} END AS match_weight
FROM free_to_person GROUP BY ALL;

CREATE TEMP TABLE to_anchor AS SELECT * FROM person_score WHERE match_weight >= {link};

CREATE TEMP TABLE ranked_anchor AS
SELECT *, row_number() OVER (PARTITION BY free_id ORDER BY match_weight DESC, anchor_nhs) AS rank,
       lead(match_weight) OVER (PARTITION BY free_id ORDER BY match_weight DESC, anchor_nhs) AS runner_up
FROM to_anchor;

CREATE TEMP TABLE direct AS
SELECT free_id, anchor_nhs, match_weight, runner_up,
       runner_up IS NOT NULL AND match_weight - runner_up < {margin} AS ambiguous
FROM ranked_anchor WHERE rank = 1;

CREATE TEMP TABLE free_node AS SELECT unique_id AS node FROM node WHERE anchor_nhs IS NULL;
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
-- pair scores at most `chain_veto`, or meets a contradiction: twins chained together through a
-- record without names): the one that linked with the lower weight stands alone.
CREATE TEMP TABLE contradicted AS
SELECT DISTINCT CASE WHEN (coalesce(a.direct_weight, a.component_weight), a.unique_id)
                          < (coalesce(b.direct_weight, b.component_weight), b.unique_id)
                     THEN a.unique_id ELSE b.unique_id END AS unique_id
FROM pairs p JOIN free_cluster a ON a.unique_id = p.unique_id_l JOIN free_cluster b ON b.unique_id = p.unique_id_r
LEFT JOIN contra_pair g ON g.a = p.unique_id_l AND g.b = p.unique_id_r
WHERE (p.match_weight <= {chain_veto} OR coalesce(g.contra, false)) AND NOT a.stranded AND NOT b.stranded
  AND coalesce(a.anchor_nhs, a.component::VARCHAR) = coalesce(b.anchor_nhs, b.component::VARCHAR);

UPDATE free_cluster SET stranded = true, anchor_nhs = NULL WHERE unique_id IN (SELECT unique_id FROM contradicted);

CREATE TEMP TABLE cluster AS
SELECT unique_id, NULL::BIGINT AS cluster, anchor_nhs, 'nhs_number' AS match_method, NULL::DOUBLE AS match_weight
FROM node WHERE anchor_nhs IS NOT NULL
UNION ALL
SELECT unique_id,
       -- a stranded record stands alone: -unique_id, never the label of the component it left
       -- (components are labelled by their smallest record id, which may be its own)
       CASE WHEN anchor_nhs IS NULL THEN (CASE WHEN stranded THEN -unique_id ELSE component END) END,
       anchor_nhs,
       CASE WHEN anchor_nhs IS NOT NULL OR (size > 1 AND NOT stranded) THEN 'probabilistic' ELSE 'unlinked' END,
       CASE WHEN anchor_nhs IS NOT NULL THEN coalesce(direct_weight, component_weight)
            WHEN size > 1 AND NOT stranded THEN component_weight END
FROM free_cluster;
"""

_REVIEWS_SQL = """
SELECT * FROM (
SELECT 'shared_nhs_number' AS kind, least(h.main_id, h.unique_id) AS unique_id_l,
       CASE WHEN h.main_id IS NULL THEN (SELECT min(o.unique_id) FROM records o WHERE o.trusted
                                          AND o.nhs_number = h.nhs_number AND o.unique_id <> h.unique_id)
            ELSE greatest(h.main_id, h.unique_id) END AS unique_id_r,
       h.match_weight
FROM held h WHERE h.other_id IS NULL
UNION ALL
SELECT 'nhs_number_borrowed', least(h.unique_id, h.other_id), greatest(h.unique_id, h.other_id), h.match_weight
FROM held h WHERE h.other_id IS NOT NULL
UNION ALL
SELECT 'nhs_number_conflict', p.unique_id_l, p.unique_id_r, p.match_weight
FROM pairs p JOIN node l ON l.unique_id = p.unique_id_l JOIN node r ON r.unique_id = p.unique_id_r
WHERE l.anchor_nhs IS NOT NULL AND r.anchor_nhs IS NOT NULL AND l.anchor_nhs <> r.anchor_nhs
  AND p.match_weight >= {nhs_conflict} AND p.decision IS NULL
UNION ALL
SELECT 'nhs_number_typo', unique_id_l, unique_id_r, match_weight FROM typo_pair WHERE match_weight < {big}
UNION ALL
SELECT 'ambiguous_match', d.free_id, (SELECT m.main_id FROM main_record m WHERE m.nhs_number = d.anchor_nhs), d.match_weight
FROM direct d WHERE d.ambiguous
UNION ALL
SELECT 'cluster_conflict', m.unique_id, NULL, m.direct_weight
FROM member m JOIN component_anchor a USING (component) WHERE a.anchors >= 2)
WHERE unique_id_r IS NULL OR (least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r)) NOT IN
      (SELECT (unique_id_l, unique_id_r) FROM decided)
ORDER BY kind, unique_id_l, unique_id_r
"""


def _personal_weight(pairs: pa.Table, personal: tuple[str, ...]) -> str:
    """SQL: a pair's weight on the `personal` comparisons (0 for those the pairs do not carry)."""
    weights = [f"coalesce(p.w_{c}, 0)" for c in personal if f"w_{c}" in pairs.column_names]
    return " + ".join(weights) or "0.0"


def _person_weight(pairs: pa.Table, prior: float) -> str:
    weights = [c for c in pairs.column_names if c.startswith("w_")]
    if not weights:
        return "max(match_weight)"
    return " + ".join([repr(float(prior))] + [f"coalesce(max({w}), 0)" for w in weights])


# A pair whose names agree (given and family name each the same or one edit apart, or the two
# swapped) and whose birth dates agree (the same, or day and month transposed): what tells one
# person from a twin (who shares the family name, the birth date and the address).
_NAMED_SQL = """(
    ((damerau_levenshtein(l.given_name, r.given_name) <= 1 AND damerau_levenshtein(l.family_name, r.family_name) <= 1)
     OR (l.given_name = r.family_name AND l.family_name = r.given_name))
    AND (l.birth_date = r.birth_date OR (year(l.birth_date) = year(r.birth_date)
         AND month(l.birth_date) = day(r.birth_date) AND day(l.birth_date) = month(r.birth_date))))"""


DECISION_SCHEMA = pa.schema([("unique_id_l", pa.int64()), ("unique_id_r", pa.int64()), ("decision", pa.string())])


def _records_view(records: pa.Table) -> pa.Table:
    """The records with every column the contradictions may use (gender and birth date null if absent)."""
    table = records
    for name, type_ in (("gender", pa.string()), ("birth_date", pa.date32()), ("given_name", pa.string()),
                        ("family_name", pa.string())):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, type_))
    return table


def _decided(decisions: pa.Table | None) -> pa.Table:
    """Decided pairs, each once (l < r), the latest decision of a pair winning (rows are in order)."""
    if decisions is None or decisions.num_rows == 0:
        return DECISION_SCHEMA.empty_table()
    con = duckdb.connect()
    try:
        con.register("d", decisions.select(DECISION_SCHEMA.names).cast(DECISION_SCHEMA))
        return con.sql("""
            SELECT least(unique_id_l, unique_id_r) AS unique_id_l, greatest(unique_id_l, unique_id_r) AS unique_id_r,
                   last(decision ORDER BY rn) AS decision
            FROM (SELECT *, row_number() OVER () AS rn FROM d WHERE decision IN ('match', 'non_match')
                  AND unique_id_l <> unique_id_r)
            GROUP BY ALL""").to_arrow_table().cast(DECISION_SCHEMA)
    finally:
        con.close()


def resolve(records: pa.Table, pairs: pa.Table, thresholds: Thresholds, prior: float = 0.0,
            contradictions: tuple[str, ...] = (), decisions: pa.Table | None = None,
            personal: tuple[str, ...] = ()) -> Resolution:
    """`records`: unique_id, nhs_number, trusted, priority, reporting_month (gender if the
    contradictions use it); `pairs`: scored pairs (unique_id_l < unique_id_r, match_weight,
    optional `w_*`); `prior`: the log2 prior odds inside match_weight (the NHS split rule weighs the
    evidence alone); `contradictions`: SQL conditions over a pair (w_* and l./r. record columns)
    that hold a record apart from its NHS number's group; `decisions`: unique_id_l, unique_id_r,
    decision (`match` / `non_match`); `personal`: the comparisons household members do not share
    (a record matching another NHS number's record better on these is held from its group).
    Returns clusters and review rows."""
    con = duckdb.connect()
    big = DECISION_WEIGHT
    try:
        con.register("records_in", _records_view(records))
        con.register("pairs_in", pairs)
        con.register("decided", _decided(decisions))
        con.execute(_DECIDED_SQL.format(big=big))
        contradiction = " OR ".join(f"({c})" for c in contradictions) or "false"
        con.execute(_ALIAS_SQL.format(nhs_typo=float(thresholds.nhs_typo), digits=int(thresholds.nhs_typo_digits),
                                      prior=float(prior),
                                      contradiction=contradiction))
        con.execute(_ANCHORS_SQL.format(nhs_split=float(thresholds.nhs_split), prior=float(prior), big=big,
                                        contradiction=contradiction, margin=float(thresholds.ambiguity_margin),
                                        link=float(thresholds.link), nhs_conflict=float(thresholds.nhs_conflict),
                                        named=_NAMED_SQL, personal=_personal_weight(pairs, personal)))
        con.execute(_EDGES_SQL.format(link=float(thresholds.link), margin=float(thresholds.ambiguity_margin),
                                      person_weight=_person_weight(pairs, prior), big=big,
                                      chain_veto=float(thresholds.chain_veto)))
        connected_components(con, "free_node", "free_edge", "component")
        con.execute(_CLUSTERS_SQL.format(chain_veto=float(thresholds.chain_veto)))
        clusters = con.sql("SELECT * FROM cluster ORDER BY unique_id").to_arrow_table().cast(CLUSTER_SCHEMA)
        reviews = con.sql(_REVIEWS_SQL.format(nhs_conflict=float(thresholds.nhs_conflict), big=big)).to_arrow_table()
        return Resolution(clusters=clusters, reviews=reviews.cast(REVIEW_SCHEMA))
    finally:
        con.close()
