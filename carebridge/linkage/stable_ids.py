"""Stable person ids: the previous assignment in, the new assignment out (pure; the asset does I/O).

Rules:
- A person with an NHS number has `person_id_for_nhs_number` (stable by construction).
- A record-only person keeps a previous id of its records: each previous id goes to the cluster
  holding most of its records, and a cluster holding several keeps the one with most records
  (then the earliest seen, then the smallest). Ids of NHS persons of this run are not claimable.
- A previous id that no cluster keeps, while its records are still present, is retired into the
  id of the cluster now holding most of them: `retired` maps it to the surviving id, and
  rows retired earlier follow on to the newest surviving id (so a retired id always resolves
  to a live one in one step).
- A new cluster gets `person_id_for_record` of its first record (source, provider, local id),
  or, if that id was ever used, one derived from it and the run.
- Records absent from this run's data keep their rows (their ids following retirements).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from carebridge.core.ids import NAMESPACE

__all__ = ["IdAssignment", "MAP_SCHEMA", "RETIRED_SCHEMA", "assign_ids", "empty_assignment", "lost_ids", "register_uuid5"]

MAP_SCHEMA = pa.schema([("source", pa.string()), ("provider_ods", pa.string()), ("local_patient_id", pa.string()),
                        ("person_id", pa.string()), ("first_seen_run", pa.string()), ("last_seen_run", pa.string())])
RETIRED_SCHEMA = pa.schema([("retired_id", pa.string()), ("surviving_id", pa.string()), ("run", pa.string()),
                            ("reason", pa.string())])


@dataclass(frozen=True)
class IdAssignment:
    """`map`: record -> person id (MAP_SCHEMA); `retired`: retired id -> surviving id (RETIRED_SCHEMA)."""

    map: pa.Table
    retired: pa.Table | None = None

    def normalised(self) -> IdAssignment:
        """Both tables in their schemas (as read back from a warehouse, or with no retired table)."""
        retired = RETIRED_SCHEMA.empty_table() if self.retired is None else self.retired
        return IdAssignment(map=self.map.select(MAP_SCHEMA.names).cast(MAP_SCHEMA),
                            retired=retired.select(RETIRED_SCHEMA.names).cast(RETIRED_SCHEMA))


def empty_assignment() -> IdAssignment:
    return IdAssignment(map=MAP_SCHEMA.empty_table(), retired=RETIRED_SCHEMA.empty_table())


def lost_ids(previous: IdAssignment | None, new: IdAssignment) -> list[str]:
    """Person ids live in `previous` that `new` neither keeps nor retires (should be none)."""
    if previous is None:
        return []
    before = set(previous.map["person_id"].to_pylist())
    after = set(new.map["person_id"].to_pylist()) | set((new.retired or RETIRED_SCHEMA.empty_table())["retired_id"].to_pylist())
    return sorted(before - after)


_GROUPS_SQL = """
CREATE TEMP TABLE cur AS
SELECT r.unique_id, r.source, r.provider_ods, r.local_patient_id, c.anchor_nhs,
       coalesce('nhs:' || c.anchor_nhs, 'rec:' || c.cluster::VARCHAR) AS grp,
       p.person_id AS prev_id, p.first_seen_run
FROM records r JOIN clusters c USING (unique_id)
LEFT JOIN prev_map p USING (source, provider_ods, local_patient_id);

CREATE TEMP TABLE grp_first AS
SELECT grp, any_value(anchor_nhs) AS anchor_nhs,
       arg_min(source || '|' || provider_ods || '|' || local_patient_id,
               (source, provider_ods, local_patient_id)) AS first_key
FROM cur GROUP BY grp;
"""

_CLAIM_SQL = """
CREATE TEMP TABLE claim AS
SELECT grp, prev_id, count(*) AS n, min(first_seen_run) AS first_seen
FROM cur WHERE anchor_nhs IS NULL AND prev_id IS NOT NULL AND prev_id NOT IN (SELECT person_id FROM nhs_ids)
GROUP BY grp, prev_id;

CREATE TEMP TABLE won AS
SELECT * EXCLUDE (rk) FROM (SELECT *, row_number() OVER (PARTITION BY prev_id ORDER BY n DESC, grp) AS rk FROM claim)
WHERE rk = 1;

CREATE TEMP TABLE kept AS
SELECT grp, prev_id AS person_id FROM (
    SELECT *, row_number() OVER (PARTITION BY grp ORDER BY n DESC, first_seen NULLS LAST, prev_id) AS rk FROM won)
WHERE rk = 1;
"""

_RETIRE_SQL = """
CREATE TEMP TABLE retiring AS
SELECT prev_id AS retired_id, arg_max(person_id, (n, person_id)) AS surviving_id,
       bool_or(anchor_nhs IS NOT NULL) AS into_nhs
FROM (SELECT c.prev_id, g.person_id, g.anchor_nhs, count(*) AS n
      FROM cur c JOIN grp_id g USING (grp) WHERE c.prev_id IS NOT NULL GROUP BY ALL)
WHERE prev_id NOT IN (SELECT person_id FROM grp_id)
GROUP BY prev_id;

CREATE TEMP TABLE resolve_id AS
SELECT retired_id AS old_id, surviving_id AS new_id FROM retiring;
"""

_MAP_SQL = """
SELECT c.source, c.provider_ods, c.local_patient_id, g.person_id,
       coalesce(c.first_seen_run, $run) AS first_seen_run, $run AS last_seen_run
FROM cur c JOIN grp_id g USING (grp)
UNION ALL
SELECT p.source, p.provider_ods, p.local_patient_id, coalesce(x.new_id, p.person_id), p.first_seen_run, p.last_seen_run
FROM prev_map p LEFT JOIN resolve_id x ON x.old_id = p.person_id
WHERE NOT EXISTS (SELECT 1 FROM cur c WHERE c.source = p.source AND c.provider_ods = p.provider_ods
                  AND c.local_patient_id = p.local_patient_id)
ORDER BY source, provider_ods, local_patient_id
"""

_RETIRED_SQL = """
SELECT o.retired_id, coalesce(x.new_id, o.surviving_id) AS surviving_id, o.run, o.reason FROM prev_retired o
LEFT JOIN resolve_id x ON x.old_id = o.surviving_id
UNION ALL
SELECT retired_id, surviving_id, $run, CASE WHEN into_nhs THEN 'merged_into_nhs_person' ELSE 'merged' END
FROM retiring
ORDER BY retired_id
"""


def register_uuid5(con: duckdb.DuckDBPyConnection) -> None:
    """SQL macro `uuid5(name)`: `uuid.uuid5(carebridge.core.ids.NAMESPACE, name)` as text, computed in
    DuckDB (SHA-1 of namespace + UTF-8 name, version 5, RFC 4122 variant) for whole columns."""
    con.execute(f"CREATE OR REPLACE TEMP MACRO _uuid5_hex(name) AS sha1(unhex('{NAMESPACE.bytes.hex()}') || encode(name))")
    con.execute("""
        CREATE OR REPLACE TEMP MACRO _uuid5_format(h) AS
            substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-5' || substr(h, 14, 3) || '-'
            || substr('89ab', (('0x' || substr(h, 17, 1))::INTEGER & 3) + 1, 1) || substr(h, 18, 3) || '-'
            || substr(h, 21, 12)""")
    con.execute("CREATE OR REPLACE TEMP MACRO uuid5(name) AS _uuid5_format(_uuid5_hex(name))")


# Ids as carebridge.core.ids makes them: person_id_for_nhs_number and person_id_for_record (whose
# `person|local|source|provider|local id` is grp_first.first_key); a fresh id already used once
# is derived from the record and the run instead.
_GROUP_IDS_SQL = """
CREATE TEMP TABLE nhs_ids AS
SELECT DISTINCT uuid5('person|nhs|' || anchor_nhs) AS person_id FROM grp_first WHERE anchor_nhs IS NOT NULL;
""" + _CLAIM_SQL + """
CREATE TEMP TABLE taken AS
SELECT person_id FROM nhs_ids UNION SELECT person_id FROM kept UNION SELECT person_id FROM prev_map
UNION SELECT retired_id FROM prev_retired UNION SELECT surviving_id FROM prev_retired;
"""

_GROUP_ID_SQL = """
CREATE TEMP TABLE grp_id AS
SELECT g.grp, g.anchor_nhs,
       CASE WHEN g.anchor_nhs IS NOT NULL THEN uuid5('person|nhs|' || g.anchor_nhs)
            WHEN k.person_id IS NOT NULL THEN k.person_id
            WHEN t.person_id IS NULL THEN uuid5('person|local|' || g.first_key)
            ELSE uuid5('person|local|' || g.first_key || '|' || $run) END AS person_id
FROM grp_first g LEFT JOIN kept k USING (grp)
LEFT JOIN taken t ON t.person_id = uuid5('person|local|' || g.first_key);
"""


def assign_ids(records: pa.Table, clusters: pa.Table, previous: IdAssignment | None, run: str) -> IdAssignment:
    """`records`: unique_id, source, provider_ods, local_patient_id; `clusters`: linkage.resolve's
    CLUSTER_SCHEMA. Returns the new assignment (every current record, plus absent ones kept)."""
    previous = (previous or empty_assignment()).normalised()
    con = duckdb.connect()
    try:
        con.register("records", records.select(["unique_id", "source", "provider_ods", "local_patient_id"]))
        con.register("clusters", clusters)
        con.register("prev_map", previous.map)
        con.register("prev_retired", previous.retired)
        register_uuid5(con)
        con.execute(_GROUPS_SQL)
        con.execute(_GROUP_IDS_SQL)
        con.execute(_GROUP_ID_SQL, {"run": run})
        con.execute(_RETIRE_SQL)
        new_map = con.sql(_MAP_SQL, params={"run": run}).to_arrow_table().cast(MAP_SCHEMA)
        retired = con.sql(_RETIRED_SQL, params={"run": run}).to_arrow_table().cast(RETIRED_SCHEMA)
        return IdAssignment(map=new_map, retired=retired)
    finally:
        con.close()
