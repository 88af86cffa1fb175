-- One row per person in scope. No NHS number, name, postcode or full birth date: birth year only,
-- age band on the age reference date (age_reference_date, the same for everyone: marts.yaml
-- age_reference_date; age at each referral is analytics.referral.age_at_referral), ethnic group (not stated / not
-- known when missing or unrecognised), IMD decile through the LSOA, PCN as the practice's parent
-- organisation, the place (reference.organisation: the PCN's parent of kind place), whether the person is on a GP severe mental illness register, and the IMD quintile
-- (FLOOR((decile + 1) / 2), 1 = most deprived), the unit every published breakdown uses.
WITH patient AS (
    SELECT
        p.person_id,
        p.person_key,
        CAST(NULLIF(SUBSTR(CAST(v.birth_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS birth_date,
        v.gender,
        v.ethnic_category,
        v.lsoa_code,
        v.gp_practice_ods
    FROM fhir.v_patient AS v
    JOIN work.m_person_ref AS p ON p.person_id = v.patient_id
),
dated AS (
    SELECT contact_date AS on_date FROM work.m_contact
    UNION ALL
    SELECT journey_date FROM work.m_referral_base
),
reference_date AS (
    -- marts.yaml age_reference_date: a fixed date, else the last day of the latest month with a
    -- contact or a referral (today's date only for a warehouse holding neither).
    SELECT COALESCE(
        (SELECT CAST(fixed_date AS DATE) FROM reference.age_reference),
        (SELECT CAST(CAST(SUBSTR(CAST(MAX(on_date) AS VARCHAR(10)), 1, 7) || '-01' AS DATE)
                     + INTERVAL '1 month' - INTERVAL '1 day' AS DATE) FROM dated),
        CURRENT_DATE) AS on_date
),
aged AS (
    SELECT
        pt.*,
        d.on_date AS age_reference_date,
        CAST(EXTRACT(YEAR FROM d.on_date) - EXTRACT(YEAR FROM pt.birth_date)
             - CASE WHEN EXTRACT(MONTH FROM d.on_date) * 100 + EXTRACT(DAY FROM d.on_date)
                         < EXTRACT(MONTH FROM pt.birth_date) * 100 + EXTRACT(DAY FROM pt.birth_date)
                    THEN 1 ELSE 0 END AS INTEGER) AS age
    FROM patient AS pt
    CROSS JOIN reference_date AS d
),
smi AS (
    SELECT DISTINCT c.patient_id AS person_id
    FROM fhir.v_condition AS c
    JOIN reference.gp_snomed AS g ON g.code = c.code AND g.kind = 'smi_register'
)
SELECT
    a.person_key,
    CAST(EXTRACT(YEAR FROM a.birth_date) AS INTEGER) AS birth_year,
    ab.age_band,
    a.gender AS sex,
    a.ethnic_category,
    COALESCE(ec.ethnic_group, not_known.ethnic_group) AS ethnic_group,
    a.lsoa_code,
    CAST(imd.imd_decile AS INTEGER) AS imd_decile,
    a.gp_practice_ods,
    COALESCE(o.parent_ods, ro.parent_ods) AS pcn_code,
    smi.person_id IS NOT NULL AS smi_register,
    CAST(FLOOR((CAST(imd.imd_decile AS INTEGER) + 1) / 2.0) AS INTEGER) AS imd_quintile,
    a.age_reference_date,
    place.ods_code AS place_code
FROM aged AS a
LEFT JOIN reference.age_band AS ab ON a.age BETWEEN ab.min_age AND ab.max_age
LEFT JOIN reference.ethnic_category AS ec ON ec.code = a.ethnic_category
LEFT JOIN reference.ethnic_category AS not_known ON not_known.code = '99'
LEFT JOIN reference.lsoa_imd AS imd ON imd.lsoa_code = a.lsoa_code
LEFT JOIN fhir.v_organization AS o ON o.ods_code = a.gp_practice_ods
LEFT JOIN reference.organisation AS ro ON ro.ods_code = a.gp_practice_ods
LEFT JOIN reference.organisation AS pcn
    ON pcn.ods_code = COALESCE(o.parent_ods, ro.parent_ods) AND pcn.kind = 'pcn'
LEFT JOIN reference.organisation AS place ON place.ods_code = pcn.parent_ods AND place.kind = 'place'
LEFT JOIN smi ON smi.person_id = a.person_id
