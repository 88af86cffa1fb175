"""The person index: which source records belong to the same person.

This foundation links on a valid NHS number only: every record with one joins the person of that
number; every record without one is its own person until the probabilistic pass (Splink) links it.
`link_probabilistic` is the seam where that pass plugs in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from carebridge.ids import person_id_for_nhs_number, person_id_for_record
from linkage.records import person_records

__all__ = ["PersonIndex", "build_person_index", "ProbabilisticLinker"]

# Given unlinked records and the linked ones, return (source, provider_ods, local_patient_id, person_id, match_method).
ProbabilisticLinker = Callable[[pa.Table, pa.Table], pa.Table]


@dataclass(frozen=True)
class PersonIndex:
    links: pa.Table
    persons: pa.Table

    def summary(self) -> dict[str, int]:
        methods = self.links.group_by("match_method").aggregate([("person_id", "count")]).to_pylist()
        by_method = {row["match_method"]: row["person_id_count"] for row in methods}
        return {
            "records": self.links.num_rows,
            "persons": self.persons.num_rows,
            "records_linked_on_nhs_number": by_method.get("nhs_number", 0),
            "records_linked_probabilistically": by_method.get("probabilistic", 0),
            "records_unlinked": by_method.get("unlinked", 0),
        }


def _assign_ids(records: pa.Table) -> pa.Table:
    ids = [
        person_id_for_nhs_number(nhs) if check == "valid" and nhs else person_id_for_record(src, ods, local)
        for src, ods, local, nhs, check in zip(
            records["source"].to_pylist(), records["provider_ods"].to_pylist(),
            records["local_patient_id"].to_pylist(), records["nhs_number"].to_pylist(),
            records["nhs_number_check"].to_pylist())
    ]
    methods = ["nhs_number" if check == "valid" and nhs else "unlinked"
               for nhs, check in zip(records["nhs_number"].to_pylist(), records["nhs_number_check"].to_pylist())]
    return records.append_column("person_id", pa.array(ids, pa.string())).append_column(
        "match_method", pa.array(methods, pa.string()))


_LINKS_SQL = """
SELECT DISTINCT source, provider_ods, local_patient_id, person_id, match_method
FROM records ORDER BY source, provider_ods, local_patient_id
"""

# One row per person: demographics from the highest-priority source, latest month first; the
# registered practice from the current GP registration, else the trust's MHS002GP record.
_PERSONS_SQL = """
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY person_id
        ORDER BY priority, registration_end IS NOT NULL, registration_start DESC NULLS LAST,
                 reporting_month DESC, source, provider_ods, local_patient_id) AS rn
    FROM records
),
practice AS (
    SELECT person_id, first(gp_practice_ods ORDER BY registration_end IS NOT NULL,
                            registration_start DESC NULLS LAST, gp_practice_ods) AS gp_practice_ods
    FROM records WHERE gp_practice_ods IS NOT NULL GROUP BY person_id
)
SELECT r.person_id,
       CASE WHEN r.nhs_number_check = 'valid' THEN r.nhs_number END AS nhs_number,
       r.nhs_number_check = 'valid' AS nhs_number_verified,
       r.given_name, r.family_name, r.birth_date, r.gender, r.ethnic_category, r.postcode, r.lsoa_code,
       p.gp_practice_ods, r.registration_start, r.registration_end,
       coalesce((SELECT bool_or(type1_objection) FROM records x WHERE x.person_id = r.person_id), false) AS type1_objection,
       r.death_date
FROM ranked r LEFT JOIN practice p USING (person_id)
WHERE r.rn = 1
ORDER BY r.person_id
"""


def _registered_practices(staged: dict[str, pa.Table]) -> pa.Table | None:
    gp = staged.get("mhsds.MHS002GP")
    if gp is None or gp.num_rows == 0:
        return None
    return gp.select(["provider_ods", "LocalPatientId", "OrgIDGPPrac", "StartDateGMPRegistration", "EndDateGMPRegistration"])


def build_person_index(staged: dict[str, pa.Table], linker: ProbabilisticLinker | None = None) -> PersonIndex:
    records = _assign_ids(person_records(staged))
    con = duckdb.connect()
    con.register("records_in", records)
    trust_gp = _registered_practices(staged)
    if trust_gp is not None:
        con.register("trust_gp", trust_gp)
        con.execute("""
            CREATE TABLE records AS
            SELECT r.* REPLACE (coalesce(r.gp_practice_ods, g.OrgIDGPPrac) AS gp_practice_ods,
                                coalesce(r.registration_start, g.StartDateGMPRegistration) AS registration_start)
            FROM records_in r LEFT JOIN (
                SELECT provider_ods, LocalPatientId, first(OrgIDGPPrac ORDER BY EndDateGMPRegistration IS NOT NULL,
                       StartDateGMPRegistration DESC NULLS LAST) AS OrgIDGPPrac, max(StartDateGMPRegistration) AS StartDateGMPRegistration
                FROM trust_gp GROUP BY ALL) g
              ON r.source = 'mhsds' AND g.provider_ods = r.provider_ods AND g.LocalPatientId = r.local_patient_id""")
    else:
        con.execute("CREATE TABLE records AS SELECT * FROM records_in")
    if linker is not None:
        _apply_linker(con, linker)
    links = con.sql(_LINKS_SQL).to_arrow_table()
    persons = con.sql(_PERSONS_SQL).to_arrow_table()
    con.close()
    return PersonIndex(links=links, persons=persons)


def _apply_linker(con: duckdb.DuckDBPyConnection, linker: ProbabilisticLinker) -> None:
    """Let the probabilistic pass move unlinked records onto the person they match."""
    unlinked = con.sql("SELECT * FROM records WHERE match_method = 'unlinked'").to_arrow_table()
    linked = con.sql("SELECT * FROM records WHERE match_method <> 'unlinked'").to_arrow_table()
    matches = linker(unlinked, linked)
    con.register("matches", matches)
    con.execute("""
        UPDATE records SET person_id = m.person_id, match_method = m.match_method
        FROM matches m WHERE records.source = m.source AND records.provider_ods = m.provider_ods
          AND records.local_patient_id = m.local_patient_id""")
