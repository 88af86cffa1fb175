"""Linkage quality against a ground truth (the synthetic generator's `records.csv` and `faults.csv`).

Pairwise precision and recall over *every* pair of records, NHS-numbered ones included:

- The records are the person records the index links (links: source, provider_ods,
  local_patient_id -> person_id) that the truth also lists (truth: source, provider_ods,
  local_id -> truth person). A record is *trusted* when staging found a valid NHS number on it.
- Predicted pairs P: unordered pairs {a, b} of distinct records with the same person_id in the
  index. True pairs T: pairs with the same truth person. precision = |P ∩ T| / |P| (1.0 when P is
  empty), recall = |P ∩ T| / |T| (1.0 when T is empty), F1 their harmonic mean.
- `quality_report` also splits the pairs:
  - `nhs_number`: both records trusted (the pairs an NHS number decides; a wrong-but-valid NHS
    number shows up here), `probabilistic`: at least one record without a valid NHS number;
  - per fault kind K (truth/faults.csv): the pairs with at least one record that carries K
    (a false merge of a twin with their sibling counts against `twin`, a split-off record with
    a swapped name against `name_swap`);
  - review: of the pairs in the review queue (both sides named), how many are true pairs.

Counted from group sizes, never by listing pairs: a group of n records, t of them trusted and k of
them carrying a fault kind, holds n(n-1)/2 pairs, t(t-1)/2 trusted ones and n(n-1)/2 - (n-k)(n-k-1)/2
touching the fault kind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import pyarrow as pa

__all__ = ["PairwiseQuality", "pairwise_quality", "quality_report"]

@dataclass(frozen=True)
class PairwiseQuality:
    records: int
    untrusted_records: int
    predicted_pairs: int
    true_pairs: int
    true_positive_pairs: int

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


_REC_SQL = """
CREATE TEMP TABLE rec AS
SELECT row_number() OVER () AS rid, l.person_id AS predicted, t.person_id AS truth,
       coalesce(v.trusted, false) AS trusted, l.source, l.provider_ods, l.local_patient_id
FROM links l
JOIN truth t ON t.source = l.source AND t.provider_ods = l.provider_ods AND t.local_id = l.local_patient_id
LEFT JOIN trusted v ON v.source = l.source AND v.provider_ods = l.provider_ods
                    AND v.local_patient_id = l.local_patient_id
"""


def _pairs(filter_sql: str, flag: str) -> str:
    """Pairs of all records (`flag` = 'n'), both trusted ('t') or touching a fault ('k'), by grouping."""
    pairs = {"n": "n * (n - 1) // 2", "t": "t * (t - 1) // 2", "k": "n * (n - 1) // 2 - (n - k) * (n - k - 1) // 2"}[flag]
    grouped = ("SELECT count(*) AS n, count(*) FILTER (WHERE trusted) AS t, count(*) FILTER (WHERE hit) AS k "
               f"FROM ({filter_sql}) GROUP BY {{by}}")
    return " , ".join(f"(SELECT coalesce(sum({pairs}), 0) FROM ({grouped.format(by=by)}))"
                      for by in ("predicted", "truth", "predicted, truth"))


def _counts(con: duckdb.DuckDBPyConnection, source_sql: str, flag: str) -> tuple[int, int, int]:
    row = con.sql(f"SELECT {_pairs(source_sql, flag)}").fetchall()[0]
    return int(row[0]), int(row[1]), int(row[2])


def _quality(records: int, untrusted: int, counts: tuple[int, int, int]) -> PairwiseQuality:
    return PairwiseQuality(records, untrusted, *counts)


def _connect(links: pa.Table, truth_records: pa.Table, trusted: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("links", links.select(["source", "provider_ods", "local_patient_id", "person_id"]))
    con.register("truth", truth_records.select(["source", "provider_ods", "local_id", "person_id"]))
    con.register("trusted", trusted.select(["source", "provider_ods", "local_patient_id", "trusted"]))
    con.execute(_REC_SQL)
    return con


def pairwise_quality(links: pa.Table, truth_records: pa.Table, trusted: pa.Table) -> PairwiseQuality:
    """Precision and recall over every pair. `links`: source, provider_ods, local_patient_id,
    person_id; `truth_records`: source, provider_ods, local_id, person_id (person tables only);
    `trusted`: source, provider_ods, local_patient_id, trusted (bool)."""
    con = _connect(links, truth_records, trusted)
    try:
        records, untrusted = con.sql("SELECT count(*), count(*) FILTER (WHERE NOT trusted) FROM rec").fetchall()[0]
        return _quality(int(records), int(untrusted), _counts(con, "SELECT *, false AS hit FROM rec", "n"))
    finally:
        con.close()


def _row(quality: PairwiseQuality) -> dict[str, Any]:
    return {"true_pairs": quality.true_pairs, "predicted_pairs": quality.predicted_pairs,
            "true_positive_pairs": quality.true_positive_pairs, "precision": round(quality.precision, 5),
            "recall": round(quality.recall, 5), "f1": round(quality.f1, 5)}


def quality_report(links: pa.Table, truth_records: pa.Table, trusted: pa.Table, faults: pa.Table | None = None,
                   reviews: pa.Table | None = None) -> dict[str, Any]:
    """The full measure: `all`, `nhs_number` (both records trusted), `probabilistic` (the rest),
    `by_fault` (fault kind -> records carrying it and the pairs touching them) and `review`.

    `faults`: kind, source, provider_ods, local_id (truth/faults.csv; rows of other tables are
    ignored); `reviews`: the index's review rows (source_l, provider_ods_l, local_patient_id_l,
    source_r, provider_ods_r, local_patient_id_r, kind)."""
    con = _connect(links, truth_records, trusted)
    try:
        records, untrusted = con.sql("SELECT count(*), count(*) FILTER (WHERE NOT trusted) FROM rec").fetchall()[0]
        records, untrusted = int(records), int(untrusted)
        everything = _quality(records, untrusted, _counts(con, "SELECT *, false AS hit FROM rec", "n"))
        both_trusted = _quality(records, untrusted, _counts(con, "SELECT *, false AS hit FROM rec", "t"))
        rest = PairwiseQuality(records, untrusted, everything.predicted_pairs - both_trusted.predicted_pairs,
                               everything.true_pairs - both_trusted.true_pairs,
                               everything.true_positive_pairs - both_trusted.true_positive_pairs)
        report: dict[str, Any] = {"records": records, "untrusted_records": untrusted, "all": _row(everything),
                                  "nhs_number": _row(both_trusted), "probabilistic": _row(rest), "by_fault": {}}
        if faults is not None and faults.num_rows:
            con.register("faults_in", faults.select(["kind", "source", "provider_ods", "local_id"]))
            con.execute("""CREATE TEMP TABLE fault AS SELECT DISTINCT f.kind, r.rid FROM faults_in f
                           JOIN rec r ON r.source = f.source AND r.provider_ods = f.provider_ods
                                     AND r.local_patient_id = f.local_id""")
            for (kind,) in con.sql("SELECT DISTINCT kind FROM fault ORDER BY kind").fetchall():
                hit_sql = (f"SELECT r.*, r.rid IN (SELECT rid FROM fault WHERE kind = '{kind}') AS hit FROM rec r")
                quality = _quality(records, untrusted, _counts(con, hit_sql, "k"))
                affected = con.sql(f"SELECT count(*) FROM fault WHERE kind = '{kind}'").fetchall()[0][0]
                report["by_fault"][kind] = {"records": int(affected), **_row(quality)}
        if reviews is not None and reviews.num_rows:
            con.register("reviews_in", reviews)
            row = con.sql("""
                SELECT count(*), count(*) FILTER (WHERE l.truth = r.truth), count(*) FILTER (WHERE l.predicted = r.predicted)
                FROM reviews_in v
                JOIN rec l ON l.source = v.source_l AND l.provider_ods = v.provider_ods_l AND l.local_patient_id = v.local_patient_id_l
                JOIN rec r ON r.source = v.source_r AND r.provider_ods = v.provider_ods_r AND r.local_patient_id = v.local_patient_id_r
            """).fetchall()[0]
            report["review"] = {"queued": reviews.num_rows, "pairs": int(row[0]), "true_pairs": int(row[1]),
                                "linked_anyway": int(row[2])}
        return report
    finally:
        con.close()
