-- Encounters of persons in scope, with the referral they belong to: the ServiceRequest they are
-- basedOn (or their episode of care's), else (GP practice appointments name no referral) the
-- person's latest referral to the same service received on or before the contact date.
WITH encounter AS (
    SELECT
        e.encounter_id,
        e.patient_id AS person_id,
        p.person_key,
        COALESCE(e.service_request_id, ep.service_request_id) AS service_request_id,
        e.provider_ods,
        e.service_id,
        CAST(NULLIF(SUBSTR(CAST(e.contact_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS contact_date,
        e.mechanism,
        COALESCE(e.attendance, CASE WHEN e.status = 'finished' THEN 'attended' END) AS attendance,
        CAST(e.length_minutes AS INTEGER) AS duration_minutes,
        e.staff_role,
        e.appointment_type
    FROM fhir.v_encounter AS e
    JOIN work.m_person_ref AS p ON p.person_id = e.patient_id
    LEFT JOIN fhir.v_episode_of_care AS ep ON ep.episode_id = e.episode_id
),
explicit AS (
    SELECT e.encounter_id, MIN(m.referral_id) AS referral_id
    FROM encounter AS e
    JOIN work.m_request_referral AS m ON m.service_request_id = e.service_request_id
    GROUP BY e.encounter_id
),
inferred AS (
    SELECT
        e.encounter_id,
        b.referral_id,
        ROW_NUMBER() OVER (PARTITION BY e.encounter_id
                           ORDER BY b.received_date DESC, b.referral_id DESC) AS recency
    FROM encounter AS e
    JOIN work.m_referral_base AS b
        ON b.person_id = e.person_id AND b.service_id = e.service_id AND b.received_date <= e.contact_date
    WHERE NOT EXISTS (SELECT 1 FROM explicit AS x WHERE x.encounter_id = e.encounter_id)
)
SELECT
    e.encounter_id,
    e.person_id,
    e.person_key,
    COALESCE(x.referral_id, i.referral_id) AS referral_id,
    e.provider_ods,
    e.service_id,
    e.contact_date,
    e.mechanism,
    e.attendance,
    COALESCE(e.attendance = 'attended', FALSE) AS attended,
    COALESCE(e.attendance = 'did_not_attend', FALSE) AS did_not_attend,
    e.duration_minutes,
    e.staff_role,
    e.appointment_type,
    COALESCE(t.is_treatment, FALSE) AS is_treatment
FROM encounter AS e
LEFT JOIN explicit AS x ON x.encounter_id = e.encounter_id
LEFT JOIN inferred AS i ON i.encounter_id = e.encounter_id AND i.recency = 1
LEFT JOIN reference.tt_app_type AS t ON t.code = e.appointment_type
