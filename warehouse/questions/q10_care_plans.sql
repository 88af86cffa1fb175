-- title: Care plans and crisis plans for people on a secondary care caseload
-- question: Care plans: share of people on a secondary care caseload with a care plan and with a crisis plan.
-- reading: The caseload is people with an open referral to a secondary care service, by service type
--   and overall ('all secondary'; people on two caseloads count once there). with_care_plan: people
--   with any care plan from a secondary care service; with_crisis_plan: with a crisis plan; the
--   pct_ columns are percentages of people_on_caseload.
WITH caseload AS (
    SELECT DISTINCT r.person_key, s.service_type_code
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key AND s.setting = 'secondary'
    WHERE r.status = 'open'
),
planned AS (
    SELECT
        cp.person_key,
        TRUE AS has_care_plan,
        BOOL_OR(COALESCE(cp.is_crisis_plan, FALSE)) AS has_crisis_plan
    FROM analytics.care_plan AS cp
    JOIN analytics.service AS s ON s.service_key = cp.service_key AND s.setting = 'secondary'
    GROUP BY cp.person_key
),
people AS (
    SELECT c.service_type_code, c.person_key,
           COALESCE(p.has_care_plan, FALSE) AS has_care_plan,
           COALESCE(p.has_crisis_plan, FALSE) AS has_crisis_plan
    FROM caseload AS c
    LEFT JOIN planned AS p ON p.person_key = c.person_key
    UNION ALL
    SELECT DISTINCT 'all secondary', c.person_key,
           COALESCE(p.has_care_plan, FALSE), COALESCE(p.has_crisis_plan, FALSE)
    FROM caseload AS c
    LEFT JOIN planned AS p ON p.person_key = c.person_key
)
SELECT
    service_type_code,
    COUNT(DISTINCT person_key) AS people_on_caseload,
    COUNT(DISTINCT person_key) FILTER (WHERE has_care_plan) AS with_care_plan,
    CAST(100.0 * COUNT(DISTINCT person_key) FILTER (WHERE has_care_plan)
         / COUNT(DISTINCT person_key) AS DOUBLE PRECISION) AS pct_with_care_plan,
    COUNT(DISTINCT person_key) FILTER (WHERE has_crisis_plan) AS with_crisis_plan,
    CAST(100.0 * COUNT(DISTINCT person_key) FILTER (WHERE has_crisis_plan)
         / COUNT(DISTINCT person_key) AS DOUBLE PRECISION) AS pct_with_crisis_plan
FROM people
GROUP BY service_type_code
ORDER BY service_type_code
