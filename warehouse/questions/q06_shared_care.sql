-- title: People in contact with two or more settings at once (shared care)
-- question: How many people are in contact with two or more settings at once (shared care)?
-- reading: A person is in contact with a setting from the day a referral there is received until it
--   is discharged or rejected (open referrals: until the latest contact date in the warehouse), for
--   referrals with at least one attended contact. One row per pair of settings whose spells overlap
--   for the same person, and a final 'any' row: distinct people with any overlap (not the sum).
WITH as_of AS (
    SELECT MAX(contact_date) AS last_date FROM analytics.contact
),
spell AS (
    SELECT
        r.person_key,
        s.setting,
        r.received_date AS start_date,
        COALESCE(r.discharge_date, r.rejected_date, a.last_date) AS end_date
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key
    CROSS JOIN as_of AS a
    WHERE r.received_date IS NOT NULL AND r.attended_contacts > 0
),
overlap AS (
    SELECT DISTINCT a.person_key, a.setting AS setting_a, b.setting AS setting_b
    FROM spell AS a
    JOIN spell AS b
        ON b.person_key = a.person_key AND a.setting < b.setting
       AND a.start_date <= b.end_date AND b.start_date <= a.end_date
)
SELECT setting_a, setting_b, COUNT(DISTINCT person_key) AS people
FROM overlap
GROUP BY setting_a, setting_b
UNION ALL
SELECT 'any', 'any', COUNT(DISTINCT person_key) FROM overlap
ORDER BY 1, 2
