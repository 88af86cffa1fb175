-- One row per Encounter; referral_key is null when the contact belongs to no referral.
SELECT
    MD5(c.person_key || '|' || c.encounter_id) AS contact_key,
    r.referral_key,
    c.person_key,
    COALESCE(c.service_id, r.service_id) AS service_key,
    c.contact_date,
    c.mechanism,
    c.attended,
    c.did_not_attend,
    c.duration_minutes,
    c.staff_role
FROM work.m_contact AS c
LEFT JOIN work.m_referral_base AS r ON r.referral_id = c.referral_id
