-- The national access measures, one row per event counted (with its period), in the 12 months
-- ending on the end of the latest reporting period (analytics.person.age_reference_date, marts.yaml age_reference_date), read
-- only from analytics and reference (marts.yaml access_measures, docs/metrics.md):
-- community_mental_health_access: a person with 2 or more attended contacts with core community
--   mental health teams (reference.team_type.is_core_community) in the 12 months (one row a person);
-- talking_therapies_access: a Talking Therapies referral entering treatment (its first treatment
--   contact) in the 12 months (one row a referral);
-- eip_started_treatment: a referral to early intervention in psychosis (team type A14) that started
--   treatment (first contact) in the 12 months; eip_started_within_2_weeks: those that started within
--   14 days of the referral being received (the national 2-week standard).
WITH bounds AS (
    SELECT MAX(age_reference_date) AS period_end FROM analytics.person
),
period AS (
    SELECT
        CAST(CAST(SUBSTR(CAST(period_end AS VARCHAR(10)), 1, 7) || '-01' AS DATE) - INTERVAL '11 months' AS DATE)
            AS period_start,
        period_end
    FROM bounds
),
cmh AS (
    SELECT c.person_key
    FROM analytics.contact AS c
    JOIN analytics.service AS s ON s.service_key = c.service_key
    JOIN reference.team_type AS t ON t.code = s.service_type_code AND t.is_core_community
    CROSS JOIN period AS p
    WHERE c.attended AND c.contact_date BETWEEN p.period_start AND p.period_end
    GROUP BY c.person_key
    HAVING COUNT(*) >= 2
),
treated AS (
    SELECT r.person_key, s.setting, s.service_type_code,
           CAST(r.first_treatment_date - r.received_date AS INTEGER) AS wait_days
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key
    CROSS JOIN period AS p
    WHERE r.first_treatment_date BETWEEN p.period_start AND p.period_end
),
events AS (
    SELECT 'community_mental_health_access' AS measure, person_key FROM cmh
    UNION ALL
    SELECT 'talking_therapies_access', person_key FROM treated WHERE setting = 'talking_therapies'
    UNION ALL
    SELECT 'eip_started_treatment', person_key FROM treated WHERE service_type_code = 'A14'
    UNION ALL
    SELECT 'eip_started_within_2_weeks', person_key FROM treated WHERE service_type_code = 'A14' AND wait_days <= 14
)
SELECT e.measure, e.person_key, p.period_start, p.period_end
FROM events AS e
CROSS JOIN period AS p
