"""Linkage quality against a ground truth (the synthetic generator's `records.csv`).

Pairwise precision and recall, on records without a valid NHS number:

- The records are the person records the index links (links: source, provider_ods,
  local_patient_id -> person_id) that the truth also lists (truth: source, provider_ods,
  local_id -> truth person). A record is *trusted* when staging found a valid NHS number on it.
- The pairs scored are the unordered pairs {a, b} of distinct records where a or b (or both)
  is not trusted. Pairs of two trusted records are left out: they are linked deterministically.
- Predicted pairs P: such pairs with the same person_id in the index. True pairs T: such pairs
  with the same truth person.
- precision = |P ∩ T| / |P| (1.0 when P is empty), recall = |P ∩ T| / |T| (1.0 when T is
  empty), F1 = their harmonic mean.

Counted from group sizes, never by listing pairs: a group of n records, t of them trusted,
holds n(n-1)/2 - t(t-1)/2 such pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb
import pyarrow as pa

__all__ = ["PairwiseQuality", "pairwise_quality"]


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


_PAIRS = "sum(n * (n - 1) // 2 - t * (t - 1) // 2)"

_QUALITY_SQL = f"""
WITH rec AS (
    SELECT l.person_id AS predicted, t.person_id AS truth, coalesce(v.trusted, false) AS trusted
    FROM links l
    JOIN truth t ON t.source = l.source AND t.provider_ods = l.provider_ods AND t.local_id = l.local_patient_id
    LEFT JOIN trusted v ON v.source = l.source AND v.provider_ods = l.provider_ods
                        AND v.local_patient_id = l.local_patient_id
),
by_predicted AS (SELECT count(*) AS n, count(*) FILTER (WHERE trusted) AS t FROM rec GROUP BY predicted),
by_truth AS (SELECT count(*) AS n, count(*) FILTER (WHERE trusted) AS t FROM rec GROUP BY truth),
by_both AS (SELECT count(*) AS n, count(*) FILTER (WHERE trusted) AS t FROM rec GROUP BY predicted, truth)
SELECT (SELECT count(*) FROM rec), (SELECT count(*) FILTER (WHERE NOT trusted) FROM rec),
       (SELECT coalesce({_PAIRS}, 0) FROM by_predicted), (SELECT coalesce({_PAIRS}, 0) FROM by_truth),
       (SELECT coalesce({_PAIRS}, 0) FROM by_both)
"""


def pairwise_quality(links: pa.Table, truth_records: pa.Table, trusted: pa.Table) -> PairwiseQuality:
    """`links`: source, provider_ods, local_patient_id, person_id; `truth_records`: source,
    provider_ods, local_id, person_id (person tables only); `trusted`: source, provider_ods,
    local_patient_id, trusted (bool)."""
    con = duckdb.connect()
    try:
        con.register("links", links.select(["source", "provider_ods", "local_patient_id", "person_id"]))
        con.register("truth", truth_records.select(["source", "provider_ods", "local_id", "person_id"]))
        con.register("trusted", trusted.select(["source", "provider_ods", "local_patient_id", "trusted"]))
        row = con.sql(_QUALITY_SQL).fetchall()[0]
    finally:
        con.close()
    return PairwiseQuality(*(int(v) for v in row))
