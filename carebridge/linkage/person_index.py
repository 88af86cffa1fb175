"""The person index: which source records belong to the same person.

    person records ─► deterministic (valid NHS number) ─► probabilistic pass (a ProbabilisticLinker,
    by default Splink) ─► resolve (links, conflicts, held apart) ─► stable ids ─► links, persons

`build_person_index` is pure: staged tables and the previous id assignment in, the new index and
assignment out. The Dagster asset reads and writes the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from carebridge.linkage.model import LinkageModel, default_model
from carebridge.linkage.records import person_records
from carebridge.linkage.resolve import REVIEW_KINDS, resolve
from carebridge.linkage.review import decision_pairs, review_queue
from carebridge.linkage.splink_linker import PAIR_SCHEMA, ProbabilisticLinker, ScoredPairs
from carebridge.linkage.stable_ids import IdAssignment, assign_ids

__all__ = ["PersonIndex", "build_person_index", "link_records", "ProbabilisticLinker", "REVIEW_SCHEMA", "band_counts",
           "linkage_records"]

REVIEW_SCHEMA = pa.schema([
    ("kind", pa.string()), ("source_l", pa.string()), ("provider_ods_l", pa.string()),
    ("local_patient_id_l", pa.string()), ("person_id_l", pa.string()), ("source_r", pa.string()),
    ("provider_ods_r", pa.string()), ("local_patient_id_r", pa.string()), ("person_id_r", pa.string()),
    ("match_weight", pa.float64()), ("match_probability", pa.float64()),
])


@dataclass(frozen=True)
class PersonIndex:
    links: pa.Table
    persons: pa.Table
    assignment: IdAssignment | None = None
    reviews: pa.Table = field(default_factory=REVIEW_SCHEMA.empty_table)
    scored: ScoredPairs = field(default_factory=lambda: ScoredPairs(pairs=PAIR_SCHEMA.empty_table()))
    bands: dict[str, int] = field(default_factory=dict)
    queue: pa.Table | None = None    # the reviews as people read them (review.review_queue)

    def summary(self) -> dict[str, int]:
        methods = self.links.group_by("match_method").aggregate([("person_id", "count")]).to_pylist()
        by_method = {row["match_method"]: row["person_id_count"] for row in methods}
        kinds = self.reviews.group_by("kind").aggregate([("kind", "count")]).to_pylist()
        by_kind = {row["kind"]: row["kind_count"] for row in kinds}
        sizes = self.links.group_by("person_id").aggregate([("person_id", "count")])
        return {
            "records": self.links.num_rows,
            "persons": self.persons.num_rows,
            "records_linked_on_nhs_number": by_method.get("nhs_number", 0),
            "records_linked_probabilistically": by_method.get("probabilistic", 0),
            "records_unlinked": by_method.get("unlinked", 0),
            "clusters_of_several_records": sum(1 for n in sizes["person_id_count"].to_pylist() if n > 1),
            "pairs_compared": self.scored.pairs_compared,
            "reviews": self.reviews.num_rows,
            **{f"reviews_{kind}": by_kind.get(kind, 0) for kind in REVIEW_KINDS},
        }


# The registered practice of a trust record comes from MHS002GP (its current registration).
_RECORDS_SQL = """
SELECT row_number() OVER (ORDER BY r.source, r.provider_ods, r.local_patient_id, r.reporting_month DESC) AS unique_id,
       r.* REPLACE (coalesce(r.gp_practice_ods, g.OrgIDGPPrac) AS gp_practice_ods,
                    coalesce(r.registration_start, g.StartDateGMPRegistration) AS registration_start),
       r.nhs_number_check = 'valid' AND r.nhs_number IS NOT NULL AS trusted
FROM records_in r LEFT JOIN (
    SELECT provider_ods, LocalPatientId,
           first(OrgIDGPPrac ORDER BY EndDateGMPRegistration IS NOT NULL, StartDateGMPRegistration DESC NULLS LAST) AS OrgIDGPPrac,
           max(StartDateGMPRegistration) AS StartDateGMPRegistration
    FROM trust_gp GROUP BY ALL) g
  ON r.source = 'mhsds' AND g.provider_ods = r.provider_ods AND g.LocalPatientId = r.local_patient_id
"""

_TRUST_GP = pa.schema([("provider_ods", pa.string()), ("LocalPatientId", pa.string()), ("OrgIDGPPrac", pa.string()),
                       ("StartDateGMPRegistration", pa.date32()), ("EndDateGMPRegistration", pa.date32())])


def _registered_practices(staged: dict[str, pa.Table]) -> pa.Table:
    gp = staged.get("mhsds.MHS002GP")
    if gp is None or gp.num_rows == 0:
        return _TRUST_GP.empty_table()
    return gp.select(_TRUST_GP.names).cast(_TRUST_GP)


def linkage_records(staged: dict[str, pa.Table]) -> pa.Table:
    """Every person record with `unique_id` (1..n in key order), `trusted` (a valid NHS number)
    and the trust's registered practice filled in from MHS002GP."""
    con = duckdb.connect()
    try:
        con.register("records_in", person_records(staged))
        con.register("trust_gp", _registered_practices(staged))
        return con.sql(_RECORDS_SQL + " ORDER BY unique_id").to_arrow_table()
    finally:
        con.close()


_LINKS_SQL = """
SELECT r.source, r.provider_ods, r.local_patient_id, m.person_id, c.match_method, c.match_weight
FROM records r JOIN clusters c USING (unique_id)
JOIN id_map m USING (source, provider_ods, local_patient_id)
ORDER BY r.source, r.provider_ods, r.local_patient_id
"""

# One row per person: demographics from the highest-priority source, latest month first; the
# NHS number the person is anchored on; the registered practice from the current GP
# registration, else the trust's MHS002GP record.
_PERSONS_SQL = """
WITH rec AS (
    SELECT r.*, m.person_id, c.anchor_nhs
    FROM records r JOIN clusters c USING (unique_id) JOIN id_map m USING (source, provider_ods, local_patient_id)
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY person_id
        ORDER BY priority, registration_end IS NOT NULL, registration_start DESC NULLS LAST,
                 reporting_month DESC, source, provider_ods, local_patient_id) AS rn
    FROM rec
),
per_person AS (
    SELECT person_id, any_value(anchor_nhs) AS anchor_nhs, bool_or(coalesce(type1_objection, false)) AS type1_objection,
           first(gp_practice_ods ORDER BY registration_end IS NOT NULL, registration_start DESC NULLS LAST, gp_practice_ods)
               FILTER (WHERE gp_practice_ods IS NOT NULL) AS gp_practice_ods
    FROM rec GROUP BY person_id
)
SELECT r.person_id, p.anchor_nhs AS nhs_number, p.anchor_nhs IS NOT NULL AS nhs_number_verified,
       r.given_name, r.family_name, r.birth_date, r.gender, r.ethnic_category, r.postcode, r.lsoa_code,
       p.gp_practice_ods, r.registration_start, r.registration_end, p.type1_objection, r.death_date
FROM ranked r JOIN per_person p USING (person_id)
WHERE r.rn = 1
ORDER BY r.person_id
"""

_REVIEWS_SQL = """
SELECT v.kind, l.source AS source_l, l.provider_ods AS provider_ods_l, l.local_patient_id AS local_patient_id_l,
       ml.person_id AS person_id_l, r.source AS source_r, r.provider_ods AS provider_ods_r,
       r.local_patient_id AS local_patient_id_r, mr.person_id AS person_id_r, v.match_weight,
       1.0 / (1.0 + pow(2.0, -v.match_weight)) AS match_probability
FROM reviews v
JOIN records l ON l.unique_id = v.unique_id_l
JOIN id_map ml ON ml.source = l.source AND ml.provider_ods = l.provider_ods AND ml.local_patient_id = l.local_patient_id
LEFT JOIN records r ON r.unique_id = v.unique_id_r
LEFT JOIN id_map mr ON mr.source = r.source AND mr.provider_ods = r.provider_ods AND mr.local_patient_id = r.local_patient_id
ORDER BY v.kind, source_l, provider_ods_l, local_patient_id_l, source_r, provider_ods_r, local_patient_id_r
"""


def band_counts(matches: pa.Table, bands: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """Matches per confidence band of their `match_weight` (`bands`: (name, lowest weight),
    highest first); weights below the lowest band are not counted."""
    weights = matches["match_weight"]
    counts, upper = {}, None
    for name, low in bands:
        inside = pc.greater_equal(weights, low)
        if upper is not None:
            inside = pc.and_(inside, pc.less(weights, upper))
        counts[name] = int(pc.sum(pc.cast(inside, pa.int64())).as_py() or 0)
        upper = low
    return counts


def build_person_index(staged: dict[str, pa.Table], linker: ProbabilisticLinker | None = None,
                       previous: IdAssignment | None = None, run: str = "", model: LinkageModel | None = None,
                       decisions: pa.Table | None = None) -> PersonIndex:
    """Link the person records of `staged`: on a valid NHS number, then (with a `linker`) on the
    pairs it scores. `previous` is the last run's id assignment (ids carry over), `run` labels this
    run, `decisions` are the clerical decisions so far (review.DECISION_RECORD_SCHEMA)."""
    return link_records(linkage_records(staged), linker, previous, run, model, decisions)


def link_records(records: pa.Table, linker: ProbabilisticLinker | None = None, previous: IdAssignment | None = None,
                 run: str = "", model: LinkageModel | None = None, decisions: pa.Table | None = None) -> PersonIndex:
    """`build_person_index` from `linkage_records` already made."""
    model = model or default_model()
    scored = linker(records) if linker is not None and records.num_rows else ScoredPairs(pairs=PAIR_SCHEMA.empty_table())
    has_weights = any(c.startswith("w_") for c in scored.pairs.column_names)
    resolution = resolve(records, scored.pairs, model.thresholds, prior=scored.prior_weight,
                         contradictions=model.contradictions if has_weights else (), personal=model.personal,
                         decisions=decision_pairs(records, decisions))
    assignment = assign_ids(records, resolution.clusters, previous, run)
    con = duckdb.connect()
    try:
        con.register("records", records)
        con.register("clusters", resolution.clusters)
        con.register("id_map", assignment.map)
        con.register("reviews", resolution.reviews)
        links = con.sql(_LINKS_SQL).to_arrow_table()
        persons = con.sql(_PERSONS_SQL).to_arrow_table()
        reviews = con.sql(_REVIEWS_SQL).to_arrow_table().cast(REVIEW_SCHEMA)
    finally:
        con.close()
    linked = resolution.clusters.filter(pc.equal(resolution.clusters["match_method"], "probabilistic"))
    return PersonIndex(links=links, persons=persons, assignment=assignment, reviews=reviews, scored=scored,
                       bands=band_counts(linked, model.bands), queue=review_queue(reviews, records, scored.pairs))
