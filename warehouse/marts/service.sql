-- One row per service (HealthcareService). service_key is the HealthcareService id: organisational
-- reference data, not personal. service_type_name is the team type's name where the code is one.
SELECT
    s.service_id AS service_key,
    s.provider_ods,
    o.name AS provider_name,
    o.kind AS provider_kind,
    s.setting,
    s.service_code AS service_type_code,
    COALESCE(t.name, s.name) AS service_type_name,
    s.level
FROM fhir.v_healthcare_service AS s
LEFT JOIN fhir.v_organization AS o ON o.ods_code = s.provider_ods
LEFT JOIN reference.team_type AS t ON t.code = s.service_code
