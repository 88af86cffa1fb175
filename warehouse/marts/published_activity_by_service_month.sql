-- Activity by month, provider and service type, before disclosure control: people seen (at least one
-- attended contact), referrals received, attended contacts, and the DNA rate's numerator (DNAs) and
-- denominator (attended + DNA appointments; cancellations are not appointments kept or missed).
WITH service AS (
    SELECT service_key, provider_ods, service_type_code FROM analytics.service
),
contact_month AS (
    SELECT
        SUBSTR(CAST(c.contact_date AS VARCHAR(10)), 1, 7) AS month,
        s.provider_ods,
        s.service_type_code,
        COUNT(DISTINCT c.person_key) FILTER (WHERE c.attended) AS people,
        COUNT(*) FILTER (WHERE c.attended) AS contacts,
        COUNT(*) FILTER (WHERE c.did_not_attend) AS dna_contacts,
        COUNT(*) FILTER (WHERE c.attended OR c.did_not_attend) AS appointments
    FROM analytics.contact AS c
    JOIN service AS s ON s.service_key = c.service_key
    WHERE c.contact_date IS NOT NULL
    GROUP BY 1, 2, 3
),
referral_month AS (
    SELECT
        SUBSTR(CAST(r.received_date AS VARCHAR(10)), 1, 7) AS month,
        s.provider_ods,
        s.service_type_code,
        COUNT(*) AS referrals
    FROM analytics.referral AS r
    JOIN service AS s ON s.service_key = r.service_key
    WHERE r.received_date IS NOT NULL
    GROUP BY 1, 2, 3
),
cells AS (
    SELECT month, provider_ods, service_type_code FROM contact_month
    UNION
    SELECT month, provider_ods, service_type_code FROM referral_month
)
SELECT
    k.month,
    k.provider_ods AS provider,
    k.service_type_code AS service_type,
    COALESCE(c.people, 0) AS people,
    COALESCE(r.referrals, 0) AS referrals,
    COALESCE(c.contacts, 0) AS contacts,
    COALESCE(c.dna_contacts, 0) AS dna_contacts,
    COALESCE(c.appointments, 0) AS appointments
FROM cells AS k
LEFT JOIN contact_month AS c
    ON c.month = k.month AND c.provider_ods = k.provider_ods AND c.service_type_code = k.service_type_code
LEFT JOIN referral_month AS r
    ON r.month = k.month AND r.provider_ods = k.provider_ods AND r.service_type_code = k.service_type_code
ORDER BY k.month, k.provider_ods, k.service_type_code
