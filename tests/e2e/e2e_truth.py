"""What the warehouse should hold, computed from the synthetic ground truth (synthetic/TRUTH.md).

The truth CSVs go into one in-memory DuckDB connection and every expectation is SQL over them.
The only pipeline facts used are those the truth cannot know: which person records lack a valid
NHS number (designed VCSE incompleteness, NHS number faults), read from the staged tables; which
of those the probabilistic linkage put back on a person (checked against the truth by the tests);
and the pseudonymisation key.

A record without a valid NHS number that is not linked probabilistically is a person of its own
(`carebridge.core.ids.person_id_for_record`). `pipeline_persons` models this, so each truth record
knows the pipeline person it lands on; a GP referral then matches its receiving record only when
both land on the same pipeline person. A GP type 1 objection excludes from analytics the pipeline
person holding that GP record. Records the truth's faults.csv says a correct pipeline quarantines
are left out, with what hangs on them (`_kept`).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import duckdb
import pyarrow as pa

from carebridge.core.ids import person_id_for_nhs_number, person_id_for_record, record_id

__all__ = ["TRUTH_TABLES", "PERSON_TABLES", "load_truth", "staged_nhs_validity", "pipeline_persons", "person_key",
           "expected_referrals", "expected_contacts", "expected_care_plans", "expected_referral_activity",
           "expected_outcomes", "expected_persons", "expected_journeys", "build_expectations"]

TRUTH_TABLES = ("persons", "records", "referrals", "contacts", "care_plans", "scores", "faults")
_DATES = {"birth_date", "referred_date", "received_date", "rejected_date", "discharge_date", "contact_date",
          "created_date", "date"}
_BOOLS = {"type1_objection", "smi_register", "seen", "is_treatment", "is_crisis_plan"}
_NUMBERS = {"imd_decile": "INTEGER", "goal_count": "INTEGER", "item": "INTEGER", "value": "DOUBLE"}
# Person-level staged tables: the local id column of each (the NHS number check is `nhs_number_check`).
PERSON_TABLES = {("gp", "patient"): "patient_id", ("mhsds", "MHS001MPI"): "LocalPatientId",
                 ("talking_therapies", "IDS001MPI"): "LocalPatientId", ("vcse", "person"): "person_id"}
# The receiving referral table of each source (for record ids of contacts, scores and plans).
REFERRAL_TABLE = {"gp": "referral", "mhsds": "MHS101Referral", "talking_therapies": "IDS101Referral",
                  "vcse": "referral"}


# Rows whose source names the person only through their referral (VCSE contacts, plans and scores;
# MHS606 and IDS606 scores): lost with a quarantined referral.
PERSON_VIA_REFERRAL = {"contacts": ("vcse",), "care_plans": ("vcse",), "scores": ("mhsds", "talking_therapies", "vcse")}


def _typed(column: str) -> str:
    name = f'"{column}"'
    if column in _DATES:
        return f"CAST({name} AS DATE) AS {name}"
    if column in _BOOLS:
        return f"CAST({name} AS BOOLEAN) AS {name}"
    if column in _NUMBERS:
        return f"CAST({name} AS {_NUMBERS[column]}) AS {name}"
    return name


def load_truth(truth_dir: Path) -> duckdb.DuckDBPyConnection:
    """`t_<name>` for every truth file (typed); `lost`, the records a correct pipeline quarantines;
    and `k_contacts`, `k_care_plans`, `k_scores`: the rows of those the pipeline can still place."""
    con = duckdb.connect()
    for name in TRUTH_TABLES:
        path = str(Path(truth_dir) / f"{name}.csv")
        columns = con.sql(f"SELECT * FROM read_csv('{path}', all_varchar = true, header = true) LIMIT 0").columns
        select = ", ".join(_typed(c) for c in columns)
        con.execute(f"CREATE TABLE t_{name} AS SELECT {select} "
                    f"FROM read_csv('{path}', all_varchar = true, header = true)")
    con.execute("""CREATE TABLE lost AS SELECT DISTINCT source, provider_ods, "table", local_id FROM t_faults
                   WHERE effect = 'quarantined' AND local_id IS NOT NULL""")
    for name, sources in PERSON_VIA_REFERRAL.items():
        con.execute(f"CREATE TABLE k_{name} AS {_kept(name, sources)}")
    return con


def _kept(name: str, via_referral: tuple[str, ...]) -> str:
    """Rows of t_<name> that are not quarantined and can still be placed (PERSON_VIA_REFERRAL).
    Other rows of a quarantined referral stay, with no referral and so no known service."""
    referral_tables = " ".join(f"WHEN '{s}' THEN '{t}'" for s, t in REFERRAL_TABLE.items())
    sources = ", ".join(f"'{s}'" for s in via_referral)
    service = (" EXCLUDE (service_code), CASE WHEN NOT referral_lost THEN service_code END AS service_code"
               if name == "contacts" else "")
    return f"""
        WITH flagged AS (
            SELECT x.*, COALESCE((x.source, x.provider_ods, CASE x.source {referral_tables} END, x.referral_local_id)
                                 IN (SELECT * FROM lost), FALSE) AS referral_lost
            FROM t_{name} AS x
            WHERE (x.source, x.provider_ods, x."table", x.local_id) NOT IN (SELECT * FROM lost)
        )
        SELECT *{service} FROM flagged
        WHERE NOT (referral_lost AND source IN ({sources}))"""


def staged_nhs_validity(staged: dict[tuple[str, str], pa.Table]) -> pa.Table:
    """(source, provider_ods, table, local_id, valid) of every staged person record."""
    parts = []
    for (source, table), data in staged.items():
        n = data.num_rows
        parts.append(pa.table({
            "source": pa.array([source] * n, pa.string()), "provider_ods": data["provider_ods"],
            "table": pa.array([table] * n, pa.string()), "local_id": data[PERSON_TABLES[(source, table)]],
            "valid": pa.array([c == "valid" for c in data["nhs_number_check"].to_pylist()], pa.bool_())}))
    return pa.concat_tables(parts)


def person_key(key: bytes, person_id: str) -> str:
    """warehouse.build person_keys, re-derived: HMAC-SHA256 hex of the person id."""
    return hmac.new(key, person_id.encode("utf-8"), hashlib.sha256).hexdigest()


def pipeline_persons(con: duckdb.DuckDBPyConnection, validity: pa.Table, links: pa.Table, key: bytes) -> None:
    """Table `pp`: every truth person record with the pipeline person it lands on (`pp_id`), that
    person's `person_key`, and `excluded` (the pipeline person holds an objector's GP record).

    A record with a valid NHS number lands on that number's person; one the pipeline linked
    probabilistically (`links`: linkage.person_index) on the person it was linked to
    (`probabilistic`; whether that is right is checked against the truth separately); any other
    record is a person of its own."""
    con.register("validity", validity)
    con.register("links", links.select(["source", "provider_ods", "local_patient_id", "person_id", "match_method"]))
    rows = con.sql("""
        SELECT r.source, r.provider_ods, r."table", r.local_id, r.person_id, p.nhs_number,
               COALESCE(v.valid, FALSE) AS valid, p.type1_objection,
               CASE WHEN l.match_method = 'probabilistic' THEN l.person_id END AS linked_to
        FROM t_records AS r JOIN t_persons AS p USING (person_id)
        LEFT JOIN validity AS v USING (source, provider_ods, "table", local_id)
        LEFT JOIN links AS l ON l.source = r.source AND l.provider_ods = r.provider_ods
                            AND l.local_patient_id = r.local_id""").to_arrow_table().to_pylist()
    con.unregister("validity")
    con.unregister("links")
    pp_ids = [person_id_for_nhs_number(r["nhs_number"]) if r["valid"] else r["linked_to"]
              or person_id_for_record(r["source"], r["provider_ods"], r["local_id"]) for r in rows]
    con.register("pp_raw", pa.table({
        **{c: [r[c] for r in rows] for c in ("source", "provider_ods", "table", "local_id", "person_id", "valid")},
        "probabilistic": [r["linked_to"] is not None and not r["valid"] for r in rows],
        "objector_gp_record": [r["source"] == "gp" and r["type1_objection"] for r in rows], "pp_id": pp_ids,
        "person_key": [person_key(key, p) for p in pp_ids]}))
    con.execute("""
        CREATE OR REPLACE TABLE pp AS
        SELECT r.* EXCLUDE (objector_gp_record),
               r.pp_id IN (SELECT pp_id FROM pp_raw WHERE objector_gp_record) AS excluded
        FROM pp_raw AS r""")
    con.unregister("pp_raw")


def _register_ids(con: duckdb.DuckDBPyConnection, name: str, sql: str, columns: tuple[str, str, str, str]) -> None:
    """Append `record_id` (carebridge.core.ids.record_id of the four named columns) to a query's rows as table `name`."""
    table = con.sql(sql).to_arrow_table()
    keys = zip(*(table[c].to_pylist() for c in columns))
    ids = [record_id(*k) if None not in k else None for k in keys]
    con.register(f"{name}_raw", table.append_column("record_id", pa.array(ids, pa.string())))
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_raw")
    con.unregister(f"{name}_raw")


def expected_referrals(con: duckdb.DuckDBPyConnection) -> None:
    """Table `e_referral`: the analytics.referral rows (outputs.md), one per receiving record kept,
    plus one per GP referral that no kept record on the same pipeline person received."""
    _register_ids(con, "e_referral_all", """
        WITH received AS (
            SELECT r.*, rp.pp_id, rp.person_key, rp.excluded, gp.pp_id AS gp_pp_id,
                   gp.person_key AS gp_person_key, gp.excluded AS gp_excluded,
                   (r.source, r.provider_ods, r."table", r.local_id) IN (SELECT * FROM lost) AS is_lost
            FROM t_referrals AS r
            JOIN pp AS rp ON rp.source = r.source AND rp.provider_ods = r.provider_ods AND rp.person_id = r.person_id
            LEFT JOIN pp AS gp
                ON gp.source = 'gp' AND gp.provider_ods = r.gp_provider_ods AND gp.person_id = r.person_id
            WHERE r.status <> 'not_received'
        ),
        matched AS (
            SELECT *, gp_referral_id IS NOT NULL AND gp_pp_id = pp_id AS from_matched_gp FROM received
        )
        SELECT 'received' AS kind, source, provider_ods, "table", local_id, person_id, pp_id, person_key, excluded,
               provider_ods AS service_ods, service_code, setting, status,
               CASE WHEN from_matched_gp THEN referred_date END AS referred_date, received_date,
               rejected_date, discharge_date, gp_referral_id, source_code, reason, from_matched_gp AS from_gp
        FROM matched WHERE NOT is_lost
        UNION ALL
        -- a GP referral whose receiving record sits on another pipeline person (or was quarantined)
        SELECT 'gp_unmatched', 'gp', gp_provider_ods, 'referral', gp_referral_id, person_id, gp_pp_id,
               gp_person_key, gp_excluded, target_ods, service_code, setting, 'not_received',
               referred_date, NULL, NULL, NULL, gp_referral_id, NULL, NULL, TRUE
        FROM matched WHERE gp_referral_id IS NOT NULL AND (NOT from_matched_gp OR is_lost)
        UNION ALL
        SELECT 'gp_not_received', 'gp', r.provider_ods, 'referral', r.local_id, r.person_id, gp.pp_id,
               gp.person_key, gp.excluded, r.target_ods, r.service_code, r.setting, 'not_received',
               r.referred_date, NULL, NULL, NULL, r.gp_referral_id, NULL, NULL, TRUE
        FROM t_referrals AS r
        JOIN pp AS gp ON gp.source = 'gp' AND gp.provider_ods = r.provider_ods AND gp.person_id = r.person_id
        WHERE r.status = 'not_received'""", ("source", "provider_ods", "table", "local_id"))
    con.execute("""
        CREATE OR REPLACE TABLE e_referral AS
        SELECT md5(person_key || '|' || record_id) AS referral_key, *
        FROM e_referral_all WHERE NOT excluded""")


def _source_settings(code_lists: dict) -> pa.Table:
    """(source, source code) -> the setting the referral came from (codes.yaml, as the pipeline reads it)."""
    lists = {"mhsds": "source_of_referral", "talking_therapies": "source_of_referral_iapt",
             "vcse": "vcse_referrer_type"}
    rows = [(source, str(code), entry["setting"] if isinstance(entry, dict) else entry)
            for source, name in lists.items() for code, entry in code_lists[name].items()]
    return pa.table({"source": [r[0] for r in rows], "code": [r[1] for r in rows], "setting": [r[2] for r in rows]})


def expected_referral_activity(con: duckdb.DuckDBPyConnection, code_lists: dict) -> None:
    """Table `e_ref`: e_referral with what happened on each referral - attended and DNA contacts,
    the first and second attended contact on or after receipt, treatment contacts, whether it
    finished (Talking Therapies: closed after 2 treatment contacts), the setting it came from and
    its journey date (received, or the GP's date for a referral never received)."""
    con.register("e_source_setting", _source_settings(code_lists))
    con.execute("""
        CREATE OR REPLACE TABLE e_ref AS
        WITH attended AS (
            SELECT c.referral_key, c.contact_date, c.is_treatment,
                   ROW_NUMBER() OVER (PARTITION BY c.referral_key ORDER BY c.contact_date, c.local_id) AS nth
            FROM e_contact AS c JOIN e_referral AS r USING (referral_key)
            WHERE c.attendance = 'attended' AND c.contact_date >= r.received_date
        ),
        waits AS (
            SELECT referral_key, MIN(contact_date) FILTER (WHERE nth = 1) AS first_contact_date,
                   MIN(contact_date) FILTER (WHERE nth = 2) AS second_contact_date,
                   COUNT(*) FILTER (WHERE is_treatment) AS treatment_contacts
            FROM attended GROUP BY referral_key
        ),
        counted AS (
            SELECT referral_key, COUNT(*) FILTER (WHERE attendance = 'attended') AS attended_contacts,
                   COUNT(*) FILTER (WHERE attendance = 'did_not_attend') AS dna_contacts,
                   MAX(contact_date) FILTER (WHERE attendance = 'attended') AS last_contact_date
            FROM e_contact WHERE referral_key IS NOT NULL GROUP BY referral_key
        )
        SELECT r.*, COALESCE(c.attended_contacts, 0) AS attended_contacts, COALESCE(c.dna_contacts, 0) AS dna_contacts,
               COALESCE(c.attended_contacts, 0) > 0 AS seen, c.last_contact_date,
               w.first_contact_date, w.second_contact_date,
               w.second_contact_date - r.received_date AS wait_second_contact_days,
               COALESCE(w.treatment_contacts, 0) AS treatment_contacts,
               r.setting = 'talking_therapies' AND r.status = 'closed' AND COALESCE(w.treatment_contacts, 0) >= 2
                   AS tt_finished,
               CASE WHEN r.from_gp THEN 'primary' ELSE ss.setting END AS source_setting,
               COALESCE(r.received_date, r.referred_date) AS journey_date
        FROM e_referral AS r
        LEFT JOIN counted AS c USING (referral_key)
        LEFT JOIN waits AS w USING (referral_key)
        LEFT JOIN e_source_setting AS ss ON ss.source = r.source AND ss.code = r.source_code""")


def expected_journeys(con: duckdb.DuckDBPyConnection, setting_rank: dict[str, int]) -> None:
    """Table `e_journey`: each pipeline person's referrals in journey order with the TRUTH.md
    transition rules (the truth's own `transition` column is per truth person, before any split)."""
    con.register("e_rank", pa.table({"setting": list(setting_rank), "setting_rank": list(setting_rank.values())}))
    con.execute("""
        CREATE OR REPLACE TABLE e_journey AS
        WITH ordered AS (
            SELECT r.*, k.setting_rank,
                   ROW_NUMBER() OVER (PARTITION BY r.person_key ORDER BY r.journey_date, r.local_id) AS step_no
            FROM e_ref AS r LEFT JOIN e_rank AS k USING (setting)
        ),
        previous AS (
            SELECT o.*, p.service_ods AS prev_ods, p.service_code AS prev_code, p.setting AS prev_setting,
                   p.setting_rank AS prev_rank, p.status AS prev_status, p.journey_date AS prev_date,
                   p.rejected_date AS prev_rejected_date
            FROM ordered AS o
            LEFT JOIN ordered AS p ON p.person_key = o.person_key AND p.step_no = o.step_no - 1
        )
        SELECT *,
               CASE WHEN step_no = 1 THEN 'first_referral'
                    WHEN service_ods = prev_ods AND service_code = prev_code THEN 're_referral'
                    WHEN prev_status = 'rejected' AND setting_rank <= prev_rank
                         AND (prev_rejected_date IS NULL OR prev_rejected_date <= journey_date) THEN 'bounced_back'
                    WHEN setting_rank > prev_rank THEN 'step_up'
                    WHEN setting_rank < prev_rank THEN 'step_down'
                    ELSE 'sideways' END AS transition,
               CASE WHEN step_no = 1 THEN source_setting ELSE prev_setting END AS from_setting,
               journey_date - prev_date AS days_since_previous
        FROM previous""")


# outputs.md `person.age_band`; reference.md's five ethnic groups ("not stated / not known" for Z, 99).
AGE_BANDS = [(0, 17, "0-17"), (18, 25, "18-25"), (26, 35, "26-35"), (36, 45, "36-45"), (46, 55, "46-55"),
             (56, 65, "56-65"), (66, 75, "66-75"), (76, 200, "76+")]
ETHNIC_GROUPS = {**dict.fromkeys("ABC", "White"), **dict.fromkeys("DEFG", "Mixed"), **dict.fromkeys("HJKL", "Asian"),
                 **dict.fromkeys("MNP", "Black"), **dict.fromkeys("RS", "Other")}
NOT_STATED = "Not stated or not known"
# The person-level records that carry an LSOA (GP patient, MHS001MPI, IDS001MPI: not VCSE person).
LSOA_SOURCES = ("gp", "mhsds", "talking_therapies")


def expected_persons(con: duckdb.DuckDBPyConnection, lsoa_imd: pa.Table) -> None:
    """Table `e_person`: one row per pipeline person analytics may hold, with the slicing columns
    of outputs.md. Attributes are the truth person's; a person split off without a GP, trust or
    Talking Therapies record has no LSOA (so no IMD) and no practice. Age band: on the age
    reference date, the last day of the latest month with a contact or a referral."""
    low, high, bands = zip(*AGE_BANDS)
    con.register("e_age_band", pa.table({"min_age": low, "max_age": high, "age_band": bands}))
    con.register("e_ethnic_group", pa.table({"code": list(ETHNIC_GROUPS),
                                             "ethnic_group": list(ETHNIC_GROUPS.values())}))
    con.register("e_lsoa_imd", lsoa_imd.select(["lsoa_code", "imd_decile"]))
    sources = ", ".join(f"'{s}'" for s in LSOA_SOURCES)
    con.execute(f"""
        CREATE OR REPLACE TABLE e_person AS
        WITH person AS (
            SELECT pp_id, person_key, ANY_VALUE(person_id) AS person_id,
                   BOOL_OR(source = 'gp') AS has_gp, BOOL_OR(source IN ({sources})) AS has_lsoa,
                   BOOL_OR(source IN ('gp', 'mhsds')) AS has_practice
            FROM pp WHERE NOT excluded GROUP BY pp_id, person_key
        ),
        reference_date AS (
            -- marts.yaml age_reference_date (latest_period_end): the last day of the latest month
            -- with a contact or a referral
            SELECT CAST(date_trunc('month', MAX(on_date)) + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS on_date
            FROM (SELECT contact_date AS on_date FROM e_contact UNION ALL SELECT journey_date FROM e_ref)
        ),
        aged AS (
            SELECT p.*, t.birth_date, t.gender, t.ethnic_category,
                   CASE WHEN p.has_lsoa THEN t.lsoa_code END AS lsoa_code,
                   CASE WHEN p.has_practice THEN t.gp_practice_ods END AS gp_practice_ods,
                   CASE WHEN p.has_practice THEN t.pcn_code END AS pcn_code,
                   p.has_gp AND t.smi_register AS smi_register,
                   date_part('year', age(r.on_date, t.birth_date)) AS age
            FROM person AS p JOIN t_persons AS t USING (person_id)
            CROSS JOIN reference_date AS r
        )
        SELECT a.*, b.age_band, COALESCE(g.ethnic_group, '{NOT_STATED}') AS ethnic_group, i.imd_decile,
               CAST(FLOOR((i.imd_decile + 1) / 2) AS INTEGER) AS imd_quintile
        FROM aged AS a
        LEFT JOIN e_age_band AS b ON a.age BETWEEN b.min_age AND b.max_age
        LEFT JOIN e_ethnic_group AS g ON g.code = a.ethnic_category
        LEFT JOIN e_lsoa_imd AS i USING (lsoa_code)""")


def expected_contacts(con: duckdb.DuckDBPyConnection, encounter_staff_roles: list[str]) -> None:
    """Table `e_contact`: the analytics.contact rows - every contact record kept (GP appointments
    only with a mental health staff role), on the pipeline person of its source's person record."""
    roles = ", ".join(f"'{r}'" for r in encounter_staff_roles)
    _register_ids(con, "e_contact_all", f"""
        SELECT c.*, p.pp_id, p.person_key, p.excluded,
               CASE c.source {' '.join(f"WHEN '{s}' THEN '{t}'" for s, t in REFERRAL_TABLE.items())} END
                   AS referral_table
        FROM k_contacts AS c
        JOIN pp AS p ON p.source = c.source AND p.provider_ods = c.provider_ods AND p.person_id = c.person_id
        WHERE c.source <> 'gp' OR c.staff_role IN ({roles})""",
                  ("source", "provider_ods", "table", "local_id"))
    con.execute("""
        CREATE OR REPLACE TABLE e_contact AS
        SELECT md5(c.person_key || '|' || c.record_id) AS contact_key, r.referral_key, c.*
        FROM e_contact_all AS c
        LEFT JOIN e_referral AS r
            ON r.kind = 'received' AND r.source = c.source AND r.provider_ods = c.provider_ods
           AND r.local_id = c.referral_local_id
        WHERE NOT c.excluded""")


def expected_care_plans(con: duckdb.DuckDBPyConnection) -> None:
    """Table `e_care_plan`: every care plan record kept, with the service of its referral."""
    _register_ids(con, "e_care_plan_all", """
        SELECT c.*, p.pp_id, p.person_key, p.excluded
        FROM k_care_plans AS c
        JOIN pp AS p ON p.source = c.source AND p.provider_ods = c.provider_ods AND p.person_id = c.person_id""",
                  ("source", "provider_ods", "table", "local_id"))
    con.execute("""
        CREATE OR REPLACE TABLE e_care_plan AS
        SELECT md5(c.person_key || '|' || c.record_id) AS care_plan_key, r.referral_key,
               r.service_ods, r.service_code, c.*
        FROM e_care_plan_all AS c
        LEFT JOIN e_referral AS r
            ON r.kind = 'received' AND r.source = c.source AND r.provider_ods = c.provider_ods
           AND r.local_id = c.referral_local_id
        WHERE NOT c.excluded""")


# reference.md "Outcome measures": range, better direction, caseness, reliable change; items in the
# score (DIALOG: the mean of items 1-8, all of them valid that date; GBO: the mean of the goals);
# SWEMWBS scores through the metric table. Scores are whole numbers (item or total).
MEASURES = {
    "PHQ9": (0, 27, "lower", ">=", 10, 6), "GAD7": (0, 21, "lower", ">=", 8, 4),
    "WSAS": (0, 40, "lower", None, None, None),
    "DIALOG": (1, 7, "higher", None, None, 1), "REQOL10": (0, 40, "higher", "<", 25, 5),
    "SWEMWBS": (7, 35, "higher", None, None, 3), "GBO": (0, 10, "higher", None, None, 3),
    "CORE10": (0, 40, "lower", None, None, 5),
    "ONS4_LIFE_SATISFACTION": (0, 10, "higher", None, None, None),
    "ONS4_WORTHWHILE": (0, 10, "higher", None, None, None),
    "ONS4_HAPPY": (0, 10, "higher", None, None, None), "ONS4_ANXIOUS": (0, 10, "lower", None, None, None),
}
DIALOG_ITEMS_IN_SCORE = 8


def _measure_table(swemwbs_metric: list[float]) -> tuple[pa.Table, pa.Table]:
    names = list(MEASURES)
    columns = list(zip(*MEASURES.values()))
    measures = pa.table({"measure": names, "min_value": pa.array(columns[0], pa.float64()),
                         "max_value": pa.array(columns[1], pa.float64()), "better": list(columns[2]),
                         "caseness_op": list(columns[3]), "cutoff": pa.array(columns[4], pa.float64()),
                         "reliable_change": pa.array(columns[5], pa.float64())})
    conversion = pa.table({"raw": pa.array([float(r) for r in range(7, 7 + len(swemwbs_metric))]),
                           "metric": pa.array(swemwbs_metric, pa.float64())})
    return measures, conversion


def expected_outcomes(con: duckdb.DuckDBPyConnection, swemwbs_metric: list[float]) -> None:
    """Table `e_outcome` (after e_ref): one row per referral kept and measure scored on at least 2 dates - the
    first and the latest score (reference.md); plus TT_COMBINED (the national Talking Therapies
    definitions) for Talking Therapies referrals that finished treatment with PHQ-9 and GAD-7 paired."""
    measures, conversion = _measure_table(swemwbs_metric)
    con.register("e_measure", measures)
    con.register("e_swemwbs", conversion)
    con.execute(f"""
        CREATE OR REPLACE TABLE e_score AS
        SELECT r.referral_key, r.person_key, r.service_ods, r.service_code, s.measure, s."date",
               ROUND(AVG(CASE WHEN s.measure = 'SWEMWBS' THEN w.metric ELSE s.value END), 6) AS score
        FROM k_scores AS s
        JOIN e_measure AS m ON m.measure = s.measure
        LEFT JOIN e_swemwbs AS w ON s.measure = 'SWEMWBS' AND w.raw = s.value
        JOIN e_referral AS r
            ON r.kind = 'received' AND r.source = s.source AND r.provider_ods = s.provider_ods
           AND r.local_id = s.referral_local_id
        WHERE s.value BETWEEN m.min_value AND m.max_value AND s.value = floor(s.value)
          AND NOT (s.measure = 'DIALOG' AND s.item > {DIALOG_ITEMS_IN_SCORE})
        GROUP BY ALL
        HAVING s.measure <> 'DIALOG' OR COUNT(DISTINCT s.item) = {DIALOG_ITEMS_IN_SCORE}""")
    con.execute("""
        CREATE OR REPLACE TABLE e_outcome AS
        WITH paired AS (
            SELECT referral_key, person_key, service_ods, service_code, measure,
                   arg_min(score, "date") AS first_score, MIN("date") AS first_date,
                   arg_max(score, "date") AS last_score, MAX("date") AS last_date
            FROM e_score GROUP BY ALL HAVING COUNT(*) >= 2
        ),
        rated AS (
            SELECT p.*, ROUND(p.last_score - p.first_score, 6) AS change,
                   CASE m.caseness_op WHEN '>=' THEN p.first_score >= m.cutoff
                                      WHEN '<' THEN p.first_score < m.cutoff END
                       AS caseness_first,
                   CASE m.caseness_op WHEN '>=' THEN p.last_score >= m.cutoff WHEN '<' THEN p.last_score < m.cutoff END
                       AS caseness_last,
                   CASE WHEN m.better = 'lower' THEN p.first_score - p.last_score ELSE p.last_score - p.first_score END
                       AS improvement,
                   m.reliable_change
            FROM paired AS p JOIN e_measure AS m USING (measure)
        )
        SELECT *, improvement >= reliable_change AS reliable_improvement,
               -improvement >= reliable_change AS reliable_deterioration
        FROM rated""")
    con.execute("""
        INSERT INTO e_outcome BY NAME
        WITH finished AS (SELECT referral_key FROM e_ref WHERE tt_finished)
        SELECT phq.referral_key, phq.person_key, phq.service_ods, phq.service_code, 'TT_COMBINED' AS measure,
               LEAST(phq.first_date, gad.first_date) AS first_date, GREATEST(phq.last_date, gad.last_date) AS last_date,
               phq.caseness_first OR gad.caseness_first AS caseness_first,
               phq.caseness_last OR gad.caseness_last AS caseness_last,
               (phq.improvement >= 6 OR gad.improvement >= 4) AND NOT (phq.improvement <= -6 OR gad.improvement <= -4)
                   AS reliable_improvement,
               phq.improvement <= -6 OR gad.improvement <= -4 AS reliable_deterioration
        FROM e_outcome AS phq
        JOIN e_outcome AS gad ON gad.referral_key = phq.referral_key AND gad.measure = 'GAD7'
        JOIN finished AS f ON f.referral_key = phq.referral_key
        WHERE phq.measure = 'PHQ9'""")
    con.execute("""
        CREATE OR REPLACE TABLE e_outcome AS
        SELECT *, CASE WHEN caseness_first THEN NOT caseness_last END AS recovery,
               CASE WHEN caseness_first THEN NOT caseness_last AND reliable_improvement END AS reliable_recovery
        FROM e_outcome""")


def build_expectations(con: duckdb.DuckDBPyConnection, validity: pa.Table, links: pa.Table, key: bytes,
                       code_lists: dict, lsoa_imd: pa.Table) -> None:
    """Every expected table, in dependency order (see each function)."""
    pipeline_persons(con, validity, links, key)
    expected_referrals(con)
    expected_contacts(con, code_lists["mental_health_staff_roles"])
    expected_care_plans(con)
    expected_referral_activity(con, code_lists)
    expected_outcomes(con, code_lists["swemwbs_metric"])
    expected_persons(con, lsoa_imd)
    expected_journeys(con, code_lists["setting_rank"])
