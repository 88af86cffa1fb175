-- One row per referral as the receiving service holds it, plus one per GP referral no service
-- received (status not_received). Waits are days from the received date. age_at_referral: the
-- person's age in whole years on the date the referral was received (else referred), from the
-- birth date, and age_band_at_referral its band (reference.age_band), for measures where age at
-- the time of care matters (analytics.person.age_band is the age on one reference date).
WITH birth AS (
    SELECT patient_id, MIN(CAST(NULLIF(SUBSTR(CAST(birth_date AS VARCHAR(32)), 1, 10), '') AS DATE)) AS birth_date
    FROM fhir.v_patient
    GROUP BY patient_id
),
dated AS (
    SELECT referral_id, person_id, COALESCE(received_date, referred_date) AS on_date
    FROM work.m_referral
),
aged AS (
    SELECT
        d.referral_id,
        CAST(EXTRACT(YEAR FROM d.on_date) - EXTRACT(YEAR FROM b.birth_date)
             - CASE WHEN EXTRACT(MONTH FROM d.on_date) * 100 + EXTRACT(DAY FROM d.on_date)
                         < EXTRACT(MONTH FROM b.birth_date) * 100 + EXTRACT(DAY FROM b.birth_date)
                    THEN 1 ELSE 0 END AS INTEGER) AS age
    FROM dated AS d
    JOIN birth AS b ON b.patient_id = d.person_id
)
SELECT
    r.referral_key,
    r.person_key,
    r.service_id AS service_key,
    r.source_setting,
    r.source_code,
    r.referring_ods,
    r.referred_date,
    r.received_date,
    r.priority,
    r.reason_code,
    r.status,
    r.rejected_date,
    r.discharge_date,
    r.first_contact_date,
    r.second_contact_date,
    r.first_treatment_date,
    r.wait_first_contact_days,
    r.wait_second_contact_days,
    r.attended_contacts,
    r.dna_contacts,
    a.age AS age_at_referral,
    ab.age_band AS age_band_at_referral
FROM work.m_referral AS r
LEFT JOIN aged AS a ON a.referral_id = r.referral_id
LEFT JOIN reference.age_band AS ab ON a.age BETWEEN ab.min_age AND ab.max_age
