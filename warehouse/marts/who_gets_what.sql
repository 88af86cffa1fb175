-- One row per person and service they were referred to, with the person's slicing columns: how
-- many referrals, attended contacts, first and last date (referral or attended contact), the wait
-- to first contact of the first referral (same-day ties by referral id, never by a key), and
-- whether any measure was paired, reliably improved or showed recovery (NULL when nothing was
-- paired or the rule does not apply).
WITH per_service AS (
    SELECT
        person_key,
        service_id,
        COUNT(*) AS referrals,
        CAST(SUM(attended_contacts) AS BIGINT) AS attended_contacts,
        MIN(journey_date) AS first_date,
        MAX(GREATEST(journey_date, last_contact_date)) AS last_date
    FROM work.m_referral
    GROUP BY person_key, service_id
),
first_referral AS (
    SELECT
        person_key,
        service_id,
        wait_first_contact_days,
        ROW_NUMBER() OVER (PARTITION BY person_key, service_id ORDER BY journey_date, referral_id) AS nth
    FROM work.m_referral
),
outcomes AS (
    SELECT
        r.person_key,
        r.service_id,
        COUNT(*) AS paired,
        BOOL_OR(o.reliable_improvement) AS improved,
        BOOL_OR(o.recovery) AS recovered
    FROM analytics.outcome AS o
    JOIN work.m_referral AS r ON r.referral_key = o.referral_key
    GROUP BY r.person_key, r.service_id
)
SELECT
    ps.person_key,
    p.age_band,
    p.sex,
    p.ethnic_group,
    p.imd_quintile,
    ps.service_id AS service_key,
    s.setting,
    s.service_type_code,
    ps.referrals,
    ps.attended_contacts,
    ps.first_date,
    ps.last_date,
    fr.wait_first_contact_days AS waited_days,
    COALESCE(oc.paired, 0) > 0 AS any_measure_paired,
    oc.improved,
    oc.recovered
FROM per_service AS ps
LEFT JOIN analytics.person AS p ON p.person_key = ps.person_key
LEFT JOIN analytics.service AS s ON s.service_key = ps.service_id
LEFT JOIN first_referral AS fr
    ON fr.person_key = ps.person_key AND fr.service_id IS NOT DISTINCT FROM ps.service_id AND fr.nth = 1
LEFT JOIN outcomes AS oc
    ON oc.person_key = ps.person_key AND oc.service_id IS NOT DISTINCT FROM ps.service_id
