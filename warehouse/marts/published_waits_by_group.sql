-- Waits against each service type's access standard over the whole period, overall (group_dimension
-- 'all') and by age band, sex, ethnic group and IMD quintile ('unknown' where not known): referrals
-- that reached the measured event (as published_waits_by_service), their median wait in days from
-- the received date, and how many were within the standard. target_pct: the standard's target as a
-- percentage (NULL where the code list sets none), a constant, not data.
WITH standard AS (
    SELECT s.service_key, s.service_type_code, w.wait_measure, w.standard_days,
           CAST(ROUND(CAST(w.target * 100 AS NUMERIC(9, 4)), 1) AS DOUBLE PRECISION) AS target_pct
    FROM analytics.service AS s
    JOIN reference.wait_standard AS w
        ON w.setting = s.setting OR w.service_type_code = s.service_type_code
),
waited AS (
    SELECT
        st.service_type_code,
        st.wait_measure,
        st.standard_days,
        st.target_pct,
        r.person_key,
        r.received_date,
        CASE st.wait_measure
            WHEN 'first_contact' THEN r.first_contact_date
            WHEN 'second_contact' THEN r.second_contact_date
            WHEN 'first_treatment' THEN r.first_treatment_date
        END AS reached_date
    FROM analytics.referral AS r
    JOIN standard AS st ON st.service_key = r.service_key
    WHERE r.received_date IS NOT NULL
),
days AS (
    SELECT w.*, CAST(reached_date - received_date AS INTEGER) AS wait_days
    FROM waited AS w
    WHERE reached_date IS NOT NULL
),
sliced AS (
    SELECT
        w.service_type_code,
        w.wait_measure,
        w.standard_days,
        w.target_pct,
        g.group_dimension,
        g.group_value,
        w.wait_days
    FROM days AS w
    JOIN identifiable.m_person_group AS g ON g.person_key = w.person_key
)
SELECT
    service_type_code AS service_type,
    wait_measure,
    standard_days,
    target_pct,
    group_dimension,
    group_value,
    COUNT(*) AS referrals,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY wait_days) AS median_wait_days,
    COUNT(*) FILTER (WHERE wait_days <= standard_days) AS within_standard
FROM sliced
GROUP BY service_type_code, wait_measure, standard_days, target_pct, group_dimension, group_value
ORDER BY 1, 2, 3, 5, 6
