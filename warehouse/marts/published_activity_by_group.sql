-- Activity by NHS financial year (April to March, written 2025-26), setting and service type, overall
-- (group_dimension 'all') and by age band, sex, ethnic group and IMD quintile (1 = most deprived;
-- 'unknown' where the person's value is not known), before disclosure control: people seen (at least
-- one attended contact), referrals received, attended contacts, and the DNA rate's numerator (DNAs)
-- and denominator (attended + DNA appointments). A contact counts in the year of its date, a
-- referral in the year it was received.
WITH activity AS (
    SELECT c.contact_date AS activity_date, c.service_key, c.person_key, c.attended, c.did_not_attend,
           FALSE AS is_referral
    FROM analytics.contact AS c
    WHERE c.contact_date IS NOT NULL
    UNION ALL
    SELECT r.received_date, r.service_key, r.person_key, FALSE, FALSE, TRUE
    FROM analytics.referral AS r
    WHERE r.received_date IS NOT NULL
),
dated AS (
    SELECT
        a.*,
        CAST(EXTRACT(YEAR FROM a.activity_date) AS INTEGER)
            - CASE WHEN EXTRACT(MONTH FROM a.activity_date) < 4 THEN 1 ELSE 0 END AS year_start,
        COALESCE(s.setting, 'unknown') AS setting,
        COALESCE(s.service_type_code, 'unknown') AS service_type
    FROM activity AS a
    JOIN analytics.service AS s ON s.service_key = a.service_key
),
sliced AS (
    SELECT
        CAST(f.year_start AS VARCHAR) || '-' || SUBSTR(CAST(f.year_start + 1 AS VARCHAR), 3, 2) AS financial_year,
        f.setting,
        f.service_type,
        g.group_dimension,
        g.group_value,
        f.person_key,
        f.attended,
        f.did_not_attend,
        f.is_referral
    FROM dated AS f
    JOIN analytics.person_group AS g ON g.person_key = f.person_key
)
SELECT
    financial_year,
    setting,
    service_type,
    group_dimension,
    group_value,
    COUNT(DISTINCT person_key) FILTER (WHERE attended) AS people,
    COUNT(*) FILTER (WHERE is_referral) AS referrals,
    COUNT(*) FILTER (WHERE attended) AS contacts,
    COUNT(*) FILTER (WHERE did_not_attend) AS dna_contacts,
    COUNT(*) FILTER (WHERE attended OR did_not_attend) AS appointments
FROM sliced
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3, 4, 5
