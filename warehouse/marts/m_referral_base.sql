-- One row per referral (outputs.md): every ServiceRequest held by the receiving service (records not
-- from a GP, and a GP's referral to its own practice's team), plus every other GP referral that no
-- receiving record is basedOn (not_received). A receiving record matched to the GP's referral takes
-- the GP's date as referred_date and 'primary' as the setting it came from.
WITH receiving AS (
    SELECT * FROM work.m_service_request
    WHERE COALESCE(record_source, '') <> 'gp' OR service_provider_ods = provider_ods
),
gp AS (
    SELECT * FROM work.m_service_request
    WHERE record_source = 'gp' AND (service_provider_ods IS NULL OR service_provider_ods <> provider_ods)
),
episode_end AS (
    SELECT service_request_id,
           CAST(NULLIF(SUBSTR(CAST(end_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS end_date
    FROM fhir.v_episode_of_care
),
episode AS (
    -- discharged once every episode of care of the referral has ended
    SELECT service_request_id,
           CASE WHEN COUNT(*) = COUNT(end_date) THEN MAX(end_date) END AS discharge_date
    FROM episode_end
    GROUP BY service_request_id
),
received AS (
    SELECT
        r.service_request_id AS referral_id,
        r.person_id,
        r.person_key,
        r.service_id,
        r.service_type_code,
        r.service_provider_ods,
        r.setting,
        g.service_request_id AS gp_request_id,
        CASE WHEN g.service_request_id IS NOT NULL OR r.record_source = 'gp' THEN 'primary'
             ELSE src.setting END AS source_setting,
        r.referral_source_code AS source_code,
        COALESCE(r.requester_ods, g.provider_ods,
                 CASE WHEN r.record_source = 'gp' THEN r.provider_ods END) AS referring_ods,
        CASE WHEN g.service_request_id IS NOT NULL THEN g.authored_on
             WHEN r.record_source = 'gp' THEN r.authored_on END AS referred_date,
        r.authored_on AS received_date,
        COALESCE(r.priority, g.priority) AS priority,
        COALESCE(r.reason_code, g.reason_code) AS reason_code,
        r.status AS request_status,
        r.rejected_date,
        e.discharge_date,
        FALSE AS not_received
    FROM receiving AS r
    LEFT JOIN gp AS g ON g.service_request_id = r.based_on_id
    LEFT JOIN episode AS e ON e.service_request_id = r.service_request_id
    LEFT JOIN reference.source_of_referral AS src
        ON src.record_source = r.record_source AND src.code = r.referral_source_code
),
unreceived AS (
    SELECT
        g.service_request_id AS referral_id,
        g.person_id,
        g.person_key,
        g.service_id,
        g.service_type_code,
        g.service_provider_ods,
        g.setting,
        CAST(NULL AS VARCHAR) AS gp_request_id,
        'primary' AS source_setting,
        g.referral_source_code AS source_code,
        COALESCE(g.requester_ods, g.provider_ods) AS referring_ods,
        g.authored_on AS referred_date,
        CAST(NULL AS DATE) AS received_date,
        g.priority,
        g.reason_code,
        g.status AS request_status,
        g.rejected_date,
        CAST(NULL AS DATE) AS discharge_date,
        TRUE AS not_received
    FROM gp AS g
    WHERE NOT EXISTS (SELECT 1 FROM receiving AS r WHERE r.based_on_id = g.service_request_id)
),
referral AS (
    SELECT * FROM received
    UNION ALL
    SELECT * FROM unreceived
)
SELECT
    referral.*,
    MD5(person_key || '|' || referral_id) AS referral_key,
    COALESCE(received_date, referred_date) AS journey_date
FROM referral
