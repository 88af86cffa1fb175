-- Every finished wait against its service type's access standard (codes.yaml wait_standards): the
-- referral reached the measured event (first treatment in Talking Therapies, first contact in Early
-- Intervention in Psychosis, second contact in core community teams), in days from the received
-- date. A referral of a service with two standards (Talking Therapies: 6 and 18 weeks) has a row
-- for each. target_pct: the standard's target as a percentage (NULL where the code list sets none).
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
)
SELECT w.*, CAST(reached_date - received_date AS INTEGER) AS wait_days
FROM waited AS w
WHERE reached_date IS NOT NULL
