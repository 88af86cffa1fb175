-- ServiceRequests of persons in scope: dates as DATE, record_source as the source kind
-- (gp, mhsds, talking_therapies, vcse), with the receiving service's provider, type and setting.
SELECT
    sr.service_request_id,
    sr.patient_id AS person_id,
    p.person_key,
    SPLIT_PART(sr.record_source, '|', 1) AS record_source,
    sr.provider_ods,
    sr.status,
    COALESCE(svc.setting, sr.setting) AS setting,
    sr.reason_code,
    sr.priority,
    CAST(NULLIF(SUBSTR(CAST(sr.authored_on AS VARCHAR(32)), 1, 10), '') AS DATE) AS authored_on,
    sr.requester_ods,
    sr.performer_service_id AS service_id,
    svc.provider_ods AS service_provider_ods,
    svc.service_code AS service_type_code,
    sr.based_on_id,
    sr.referral_source_code,
    CAST(NULLIF(SUBSTR(CAST(sr.rejected_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS rejected_date
FROM fhir.v_service_request AS sr
JOIN work.m_person_ref AS p ON p.person_id = sr.patient_id
LEFT JOIN fhir.v_healthcare_service AS svc ON svc.service_id = sr.performer_service_id
