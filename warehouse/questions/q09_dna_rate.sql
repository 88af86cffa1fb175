-- title: Did-not-attend rate by contact mechanism and by group
-- question: DNA rate by mechanism (face to face, telephone, video) and by group.
-- reading: Appointments are contacts attended or not attended (cancellations by either side are
--   excluded). One row per mechanism and group ('all', age_band, sex, ethnic_group, imd_quintile):
--   appointments, dnas, and dna_rate = dnas as a percentage of appointments.
WITH appointment AS (
    SELECT
        COALESCE(c.mechanism, 'unknown') AS mechanism,
        c.did_not_attend,
        COALESCE(p.age_band, 'unknown') AS age_band,
        COALESCE(p.sex, 'unknown') AS sex,
        COALESCE(p.ethnic_group, 'unknown') AS ethnic_group,
        COALESCE(CAST(CAST(FLOOR((p.imd_decile + 1) / 2.0) AS INTEGER) AS VARCHAR), 'unknown') AS imd_quintile
    FROM analytics.contact AS c
    LEFT JOIN analytics.person AS p ON p.person_key = c.person_key
    WHERE c.attended OR c.did_not_attend
),
sliced AS (
    SELECT mechanism, 'all' AS group_dimension, 'all' AS group_value, did_not_attend FROM appointment
    UNION ALL SELECT mechanism, 'age_band', age_band, did_not_attend FROM appointment
    UNION ALL SELECT mechanism, 'sex', sex, did_not_attend FROM appointment
    UNION ALL SELECT mechanism, 'ethnic_group', ethnic_group, did_not_attend FROM appointment
    UNION ALL SELECT mechanism, 'imd_quintile', imd_quintile, did_not_attend FROM appointment
)
SELECT
    mechanism,
    group_dimension,
    group_value,
    COUNT(*) AS appointments,
    COUNT(*) FILTER (WHERE did_not_attend) AS dnas,
    CAST(100.0 * COUNT(*) FILTER (WHERE did_not_attend) / COUNT(*) AS DOUBLE PRECISION) AS dna_rate
FROM sliced
GROUP BY mechanism, group_dimension, group_value
ORDER BY mechanism, group_dimension, group_value
