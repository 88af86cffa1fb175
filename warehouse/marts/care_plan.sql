-- One row per CarePlan. Its service is that of the referral it is basedOn; else (MHSDS care plans
-- name no referral) the person's referral at the same provider with an attended contact on the day
-- the plan was created (a plan is agreed at a contact: this tells a CMHT's plan from a crisis team's
-- referral received meanwhile), else the one most recently received on or before the plan was
-- created, else their earliest later one there.
WITH plan AS (
    SELECT
        cp.care_plan_id,
        p.person_id,
        p.person_key,
        cp.provider_ods,
        cp.service_request_id,
        cp.plan_type,
        CAST(cp.is_crisis_plan AS BOOLEAN) AS is_crisis_plan,
        CAST(NULLIF(SUBSTR(CAST(cp.created_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS created_date,
        CAST(NULLIF(SUBSTR(CAST(cp.last_updated_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS last_updated_date,
        CAST(cp.goal_count AS INTEGER) AS goal_count
    FROM fhir.v_care_plan AS cp
    JOIN work.m_person_ref AS p ON p.person_id = cp.patient_id
),
by_request AS (
    SELECT pl.care_plan_id, MIN(b.service_id) AS service_id
    FROM plan AS pl
    JOIN work.m_request_referral AS m ON m.service_request_id = pl.service_request_id
    JOIN work.m_referral_base AS b ON b.referral_id = m.referral_id
    GROUP BY pl.care_plan_id
),
met_on AS (
    SELECT DISTINCT referral_id, contact_date FROM work.m_contact WHERE attended AND referral_id IS NOT NULL
),
by_provider AS (
    SELECT
        pl.care_plan_id,
        b.service_id,
        ROW_NUMBER() OVER (
            PARTITION BY pl.care_plan_id
            ORDER BY CASE WHEN mo.referral_id IS NOT NULL THEN 0 ELSE 1 END,
                     CASE WHEN b.received_date <= pl.created_date THEN 0 ELSE 1 END,
                     CASE WHEN b.received_date <= pl.created_date THEN b.received_date END DESC NULLS LAST,
                     b.received_date,
                     b.referral_id
        ) AS preference
    FROM plan AS pl
    JOIN work.m_referral_base AS b
        ON b.person_id = pl.person_id AND b.service_provider_ods = pl.provider_ods AND b.received_date IS NOT NULL
    LEFT JOIN met_on AS mo ON mo.referral_id = b.referral_id AND mo.contact_date = pl.created_date
)
SELECT
    MD5(pl.person_key || '|' || pl.care_plan_id) AS care_plan_key,
    pl.person_key,
    COALESCE(r.service_id, pv.service_id) AS service_key,
    pl.plan_type,
    pl.is_crisis_plan,
    pl.created_date,
    pl.last_updated_date,
    pl.goal_count
FROM plan AS pl
LEFT JOIN by_request AS r ON r.care_plan_id = pl.care_plan_id
LEFT JOIN by_provider AS pv ON pv.care_plan_id = pl.care_plan_id AND pv.preference = 1
