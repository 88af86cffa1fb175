"""The ten questions of outputs.md answered from the truth (e2e_truth's `e_*` tables), one SQL each.

Each answer follows the question's `-- reading:` header (warehouse/questions/*.sql), written again
here over the truth rather than over the warehouse, so the two can be compared row for row. The
column names match the question's result; `KEYS` names the columns that identify a row.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

__all__ = ["KEYS", "expected_answer", "register_services"]

# person slicing columns, 'unknown' when missing (as the questions show them)
_GROUPS = """COALESCE(p.age_band, 'unknown') AS age_band, COALESCE(p.gender, 'unknown') AS sex,
             COALESCE(p.ethnic_group, 'unknown') AS ethnic_group,
             COALESCE(CAST(p.imd_quintile AS VARCHAR), 'unknown') AS imd_quintile"""


def _sliced(source: str, keep: str, dimensions: tuple[str, ...]) -> str:
    """UNION ALL of `source` once as ('all', 'all') and once per slicing dimension."""
    parts = [f"SELECT 'all' AS group_dimension, 'all' AS group_value, {keep} FROM {source}"]
    parts += [f"SELECT '{d}', {d}, {keep} FROM {source}" for d in dimensions]
    return "\nUNION ALL\n".join(parts)


_DIMENSIONS = ("age_band", "sex", "ethnic_group", "imd_quintile")

EXPECTED: dict[str, str] = {
    "q01": f"""
        WITH this_month AS (
            SELECT strftime(MAX(contact_date), '%Y-%m') AS month FROM e_contact WHERE attendance = 'attended'
        ),
        seen AS (
            SELECT DISTINCT m.month, c.provider_ods, c.service_code, c.person_key, {_GROUPS}
            FROM e_contact AS c JOIN this_month AS m ON strftime(c.contact_date, '%Y-%m') = m.month
            JOIN e_person AS p USING (person_key)
            WHERE c.attendance = 'attended'
        ),
        sliced AS ({_sliced('seen', 'month, provider_ods, service_code, person_key', _DIMENSIONS)})
        SELECT sl.month, sl.provider_ods, sl.service_code AS service_type_code, s.name AS service_type_name,
               group_dimension, group_value, COUNT(DISTINCT person_key) AS people
        FROM sliced AS sl JOIN e_service AS s USING (provider_ods, service_code)
        GROUP BY ALL""",
    "q02": """
        WITH gp_cmht AS (
            SELECT * FROM e_journey
            WHERE service_code IN ('A06', 'A07') AND (kind <> 'received' OR gp_referral_id IS NOT NULL)
        ),
        nxt AS (
            SELECT g.referral_key, n.journey_date, n.setting, n.service_code, n.seen
            FROM gp_cmht AS g JOIN e_journey AS n ON n.person_key = g.person_key AND n.step_no = g.step_no + 1
        ),
        mhp AS (
            SELECT g.referral_key, MIN(c.contact_date) AS first_date, BOOL_OR(c.attendance = 'attended') AS seen
            FROM gp_cmht AS g
            JOIN e_contact AS c ON c.person_key = g.person_key AND c.source = 'gp' AND c.service_code = 'MHP'
                                AND c.contact_date >= g.rejected_date
            WHERE g.status = 'rejected' GROUP BY g.referral_key
        ),
        planned AS (SELECT DISTINCT person_key, service_ods, service_code FROM e_care_plan),
        classified AS (
            SELECT g.referral_key, g.person_key, g.attended_contacts, pl.person_key IS NOT NULL AS has_care_plan,
                   m.referral_key IS NOT NULL AND (n.referral_key IS NULL OR m.first_date < n.journey_date)
                       AS mhp_first,
                   n.referral_key IS NOT NULL AS has_next, n.setting AS next_setting, n.service_code AS next_code,
                   n.seen AS next_referral_seen, m.seen AS mhp_seen, g.status
            FROM gp_cmht AS g
            LEFT JOIN nxt AS n USING (referral_key)
            LEFT JOIN mhp AS m USING (referral_key)
            LEFT JOIN planned AS pl ON pl.person_key = g.person_key AND pl.service_ods = g.service_ods
                                   AND pl.service_code = g.service_code
        ),
        pathway AS (
            SELECT *, COALESCE(CASE WHEN mhp_first THEN mhp_seen ELSE next_referral_seen END, FALSE) AS next_seen,
                   CASE WHEN status = 'not_received' THEN '6 never received'
                        WHEN status <> 'rejected' AND attended_contacts > 0 THEN '1 accepted and seen'
                        WHEN status <> 'rejected' THEN '2 accepted, not seen'
                        WHEN mhp_first THEN '3b rejected, then primary care mental health'
                        WHEN NOT has_next THEN '3e rejected, no further referral'
                        WHEN next_code IN ('A06', 'A07') THEN '3a rejected, re-referred to a CMHT'
                        WHEN next_code IN ('MHP', 'A05') THEN '3b rejected, then primary care mental health'
                        WHEN next_setting = 'vcse' THEN '3c rejected, then VCSE'
                        ELSE '3d rejected, then another service' END AS pathway
            FROM classified
        )
        SELECT pathway, COUNT(*) AS referrals, COUNT(DISTINCT person_key) AS people,
               SUM(attended_contacts) AS attended_contacts,
               COUNT(DISTINCT person_key) FILTER (WHERE has_care_plan) AS with_care_plan,
               COUNT(DISTINCT person_key) FILTER (WHERE next_seen) AS next_seen
        FROM pathway GROUP BY pathway""",
    "q03": """
        SELECT r.service_code AS service_type_code, s.name AS service_type_name,
               COUNT(r.wait_second_contact_days) AS reached_second_contact,
               COUNT(*) FILTER (WHERE r.wait_second_contact_days IS NULL AND r.status = 'open') AS still_waiting,
               quantile_cont(r.wait_second_contact_days, 0.5) AS median_days,
               quantile_cont(r.wait_second_contact_days, 0.9) AS p90_days
        FROM e_ref AS r JOIN e_service AS s ON s.provider_ods = r.service_ods AND s.service_code = r.service_code
        WHERE r.received_date IS NOT NULL
        GROUP BY ALL""",
    "q04": f"""
        WITH tt AS (
            SELECT o.*, {_GROUPS} FROM e_outcome AS o JOIN e_person AS p USING (person_key)
            WHERE o.measure = 'TT_COMBINED'
        ),
        sliced AS ({_sliced('tt', 'caseness_first, recovery, reliable_improvement, reliable_recovery',
                            ('ethnic_group', 'imd_quintile'))})
        SELECT group_dimension, group_value, COUNT(*) AS finished,
               COUNT(*) FILTER (WHERE caseness_first) AS at_caseness,
               COUNT(*) FILTER (WHERE recovery) AS recovered,
               COUNT(*) FILTER (WHERE reliable_improvement) AS reliably_improved,
               COUNT(*) FILTER (WHERE reliable_recovery) AS reliably_recovered,
               100.0 * COUNT(*) FILTER (WHERE recovery) / NULLIF(COUNT(*) FILTER (WHERE caseness_first), 0)
                   AS recovery_rate,
               100.0 * COUNT(*) FILTER (WHERE reliable_improvement) / COUNT(*) AS reliable_improvement_rate,
               100.0 * COUNT(*) FILTER (WHERE reliable_recovery) / NULLIF(COUNT(*) FILTER (WHERE caseness_first), 0)
                   AS reliable_recovery_rate
        FROM sliced GROUP BY ALL""",
    "q05": """
        SELECT transition, from_setting, setting AS to_setting, service_code AS to_service_type,
               COUNT(DISTINCT person_key) AS people, COUNT(*) AS moves,
               QUANTILE_CONT(days_since_previous, 0.5) AS median_days_since_previous,
               COUNT(*) FILTER (WHERE seen) AS moves_seen, 100.0 * COUNT(*) FILTER (WHERE seen) / COUNT(*) AS pct_seen,
               COUNT(*) FILTER (WHERE status = 'open') AS moves_open
        FROM e_journey
        WHERE (transition = 'step_up' AND from_setting = 'talking_therapies' AND setting = 'secondary')
           OR (transition = 'step_down' AND from_setting = 'secondary')
        GROUP BY ALL""",
    "q06": """
        WITH spell AS (
            SELECT person_key, setting, received_date AS start_date,
                   COALESCE(discharge_date, rejected_date, (SELECT MAX(contact_date) FROM e_contact)) AS end_date
            FROM e_ref WHERE received_date IS NOT NULL AND attended_contacts > 0
        ),
        overlap AS (
            SELECT DISTINCT a.person_key, a.setting AS setting_a, b.setting AS setting_b
            FROM spell AS a JOIN spell AS b
              ON b.person_key = a.person_key AND a.setting < b.setting
             AND a.start_date <= b.end_date AND b.start_date <= a.end_date
        )
        SELECT setting_a, setting_b, COUNT(DISTINCT person_key) AS people FROM overlap GROUP BY ALL
        UNION ALL
        SELECT 'any', 'any', COUNT(DISTINCT person_key) FROM overlap""",
    "q07": f"""
        WITH sp AS (
            SELECT r.referral_key, r.person_key, r.reason, r.attended_contacts,
                   COALESCE(r.source_setting, 'unknown') AS referred_from, {_GROUPS}
            FROM e_ref AS r JOIN e_person AS p USING (person_key)
            WHERE r.setting = 'vcse'
        ),
        need AS (SELECT referral_key, UNNEST(string_split(reason, ';')) AS domain FROM sp WHERE reason IS NOT NULL),
        sliced AS (
            SELECT 'all' AS dimension, 'all' AS value, referral_key FROM sp
            UNION ALL SELECT 'need', domain, referral_key FROM need
            UNION ALL SELECT 'referred_from', referred_from, referral_key FROM sp
            UNION ALL SELECT 'age_band', age_band, referral_key FROM sp
            UNION ALL SELECT 'sex', sex, referral_key FROM sp
            UNION ALL SELECT 'ethnic_group', ethnic_group, referral_key FROM sp
            UNION ALL SELECT 'imd_quintile', imd_quintile, referral_key FROM sp
        ),
        sw AS (SELECT referral_key, change, reliable_improvement FROM e_outcome WHERE measure = 'SWEMWBS'),
        ls AS (SELECT referral_key, change FROM e_outcome WHERE measure = 'ONS4_LIFE_SATISFACTION')
        SELECT sl.dimension, sl.value, COUNT(*) AS referrals, COUNT(DISTINCT sp.person_key) AS people,
               COUNT(*) FILTER (WHERE sp.attended_contacts > 0) AS seen, COUNT(sw.change) AS swemwbs_paired,
               AVG(sw.change) AS swemwbs_mean_change,
               COUNT(*) FILTER (WHERE sw.reliable_improvement) AS swemwbs_improved,
               AVG(ls.change) AS life_satisfaction_mean_change
        FROM sliced AS sl JOIN sp USING (referral_key)
        LEFT JOIN sw USING (referral_key) LEFT JOIN ls USING (referral_key)
        GROUP BY ALL""",
    "q08": """
        WITH referred_on AS (
            SELECT person_key, source_setting AS from_setting, setting AS to_setting, seen, status
            FROM e_ref WHERE source_setting IN (SELECT setting FROM e_rank)
        )
        SELECT from_setting, to_setting, COUNT(DISTINCT person_key) AS people_referred,
               COUNT(DISTINCT person_key) FILTER (WHERE NOT seen) AS people_never_seen,
               COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'not_received') AS not_received,
               COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'rejected') AS rejected,
               COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'closed') AS closed_unseen,
               COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'open') AS open_unseen
        FROM referred_on GROUP BY ALL""",
    "q09": f"""
        WITH appointment AS (
            SELECT COALESCE(c.mechanism, 'unknown') AS mechanism, c.attendance = 'did_not_attend' AS dna, {_GROUPS}
            FROM e_contact AS c JOIN e_person AS p USING (person_key)
            WHERE c.attendance IN ('attended', 'did_not_attend')
        ),
        sliced AS ({_sliced('appointment', 'mechanism, dna', _DIMENSIONS)})
        SELECT mechanism, group_dimension, group_value, COUNT(*) AS appointments,
               COUNT(*) FILTER (WHERE dna) AS dnas, 100.0 * COUNT(*) FILTER (WHERE dna) / COUNT(*) AS dna_rate
        FROM sliced GROUP BY ALL""",
    "q10": """
        WITH caseload AS (
            SELECT DISTINCT person_key, service_code AS service_type_code FROM e_ref
            WHERE setting = 'secondary' AND status = 'open'
        ),
        planned AS (
            SELECT cp.person_key, BOOL_OR(cp.is_crisis_plan) AS has_crisis_plan
            FROM e_care_plan AS cp
            JOIN e_service AS s ON s.provider_ods = cp.service_ods AND s.service_code = cp.service_code
            WHERE s.setting = 'secondary' GROUP BY cp.person_key
        ),
        people AS (
            SELECT service_type_code, person_key FROM caseload
            UNION SELECT 'all secondary', person_key FROM caseload
        )
        SELECT service_type_code, COUNT(*) AS people_on_caseload,
               COUNT(*) FILTER (WHERE pl.person_key IS NOT NULL) AS with_care_plan,
               100.0 * COUNT(*) FILTER (WHERE pl.person_key IS NOT NULL) / COUNT(*) AS pct_with_care_plan,
               COUNT(*) FILTER (WHERE pl.has_crisis_plan) AS with_crisis_plan,
               100.0 * COUNT(*) FILTER (WHERE pl.has_crisis_plan) / COUNT(*) AS pct_with_crisis_plan
        FROM people LEFT JOIN planned AS pl USING (person_key)
        GROUP BY service_type_code""",
}

KEYS: dict[str, tuple[str, ...]] = {
    "q01": ("provider_ods", "service_type_code", "group_dimension", "group_value"),
    "q02": ("pathway",),
    "q03": ("service_type_code", "service_type_name"),
    "q04": ("group_dimension", "group_value"),
    "q05": ("transition", "from_setting", "to_setting", "to_service_type"),
    "q06": ("setting_a", "setting_b"),
    "q07": ("dimension", "value"),
    "q08": ("from_setting", "to_setting"),
    "q09": ("mechanism", "group_dimension", "group_value"),
    "q10": ("service_type_code",),
}


def register_services(con: duckdb.DuckDBPyConnection, services: pa.Table, team_types: dict[str, str]) -> None:
    """Table `e_service`: every service of the reference data, named by its team type where it is one."""
    con.register("e_services_raw", services)
    con.register("e_team_type", pa.table({"code": list(team_types), "name": list(team_types.values())}))
    con.execute("""CREATE OR REPLACE TABLE e_service AS
                   SELECT s.provider_ods, s.service_code, COALESCE(t.name, s.name) AS name, s.setting
                   FROM e_services_raw AS s LEFT JOIN e_team_type AS t ON t.code = s.service_code""")


def expected_answer(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    """The question's answer from the truth, as dicts keyed like the question's columns."""
    return con.sql(EXPECTED[name]).to_arrow_table().to_pylist()
