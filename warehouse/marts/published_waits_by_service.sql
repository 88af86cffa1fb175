-- Waits against each service type's access standard (codes.yaml wait_standards), by the month the
-- wait ended (the referral reached the measured event: first treatment in Talking Therapies, first
-- contact in Early Intervention in Psychosis, second contact in core community teams). Days from
-- the received date. Only services with a standard appear. target_pct: the standard's target as a
-- percentage (NULL where the code list sets none), a constant of the code list, not data.
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
)
SELECT
    service_type_code AS service_type,
    SUBSTR(CAST(reached_date AS VARCHAR(10)), 1, 7) AS period,
    wait_measure,
    standard_days,
    COUNT(*) AS referrals,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY wait_days) AS median_wait_days,
    COUNT(*) FILTER (WHERE wait_days <= standard_days) AS within_standard,
    target_pct
FROM days
GROUP BY 1, 2, 3, 4, target_pct
ORDER BY 1, 2, 3, 4
