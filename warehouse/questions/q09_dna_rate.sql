-- title: Did-not-attend rate by contact mechanism and by group
-- question: DNA rate by mechanism (face to face, telephone, video) and by group.
-- reading: Appointments are contacts attended or not attended (cancellations by either side are
--   excluded). One row per mechanism and group ('all', age_band, sex, ethnic_group, imd_quintile):
--   appointments, dnas, and dna_rate = dnas as a percentage of appointments.
WITH sliced AS (
    SELECT COALESCE(c.mechanism, 'unknown') AS mechanism, g.group_dimension, g.group_value, c.did_not_attend
    FROM analytics.contact AS c
    JOIN analytics.person_group AS g ON g.person_key = c.person_key
    WHERE c.attended OR c.did_not_attend
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
