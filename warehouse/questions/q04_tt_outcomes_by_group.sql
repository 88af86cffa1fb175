-- title: NHS Talking Therapies recovery, reliable improvement and reliable recovery by ethnic group and IMD quintile
-- question: Talking Therapies recovery, reliable improvement and reliable recovery rates, by ethnic group
--   and IMD quintile, by the national definitions.
-- reading: Built on the TT_COMBINED outcome rows: referrals that finished a course of treatment
--   (discharged after at least 2 treatment contacts) with paired PHQ-9 and GAD-7. finished counts
--   them; at_caseness those at caseness at the start (PHQ-9 >= 10 or GAD-7 >= 8). recovery_rate and
--   reliable_recovery_rate are percentages of at_caseness (the national denominator: finished minus
--   not at caseness); reliable_improvement_rate is a percentage of finished. NULL when the denominator is 0.
WITH sliced AS (
    SELECT g.group_dimension, g.group_value, o.*
    FROM analytics.outcome AS o
    JOIN analytics.person_group AS g
        ON g.person_key = o.person_key AND g.group_dimension IN ('all', 'ethnic_group', 'imd_quintile')
    WHERE o.measure = 'TT_COMBINED'
),
counted AS (
    SELECT
        group_dimension,
        group_value,
        COUNT(*) AS finished,
        COUNT(*) FILTER (WHERE caseness_first) AS at_caseness,
        COUNT(*) FILTER (WHERE recovery) AS recovered,
        COUNT(*) FILTER (WHERE reliable_improvement) AS reliably_improved,
        COUNT(*) FILTER (WHERE reliable_recovery) AS reliably_recovered
    FROM sliced
    GROUP BY group_dimension, group_value
)
SELECT
    counted.*,
    CAST(100.0 * recovered / NULLIF(at_caseness, 0) AS DOUBLE PRECISION) AS recovery_rate,
    CAST(100.0 * reliably_improved / NULLIF(finished, 0) AS DOUBLE PRECISION) AS reliable_improvement_rate,
    CAST(100.0 * reliably_recovered / NULLIF(at_caseness, 0) AS DOUBLE PRECISION) AS reliable_recovery_rate
FROM counted
ORDER BY group_dimension, group_value
