-- Wellbeing scores of VCSE (social prescribing) referrals: SWEMWBS (metric score) and each ONS4
-- personal wellbeing item in analytics.outcome, overall (group_dimension 'all') and by age band, sex,
-- ethnic group and IMD quintile ('unknown' where not known): referrals with a first and a latest
-- score (paired), those improving / deteriorating by the measure's reliable-change amount (none
-- where the measure has no such amount), and the mean first, latest and change of the paired scores.
WITH dimension AS (
    SELECT 'all' AS group_dimension
    UNION ALL SELECT 'age_band'
    UNION ALL SELECT 'sex'
    UNION ALL SELECT 'ethnic_group'
    UNION ALL SELECT 'imd_quintile'
),
person_group AS (
    SELECT
        person_key,
        COALESCE(age_band, 'unknown') AS age_band,
        COALESCE(sex, 'unknown') AS sex,
        COALESCE(ethnic_group, 'unknown') AS ethnic_group,
        COALESCE(CAST(CAST(FLOOR((imd_decile + 1) / 2.0) AS INTEGER) AS VARCHAR), 'unknown') AS imd_quintile
    FROM analytics.person
),
paired AS (
    SELECT o.measure, o.person_key, o.first_score, o.last_score, o.change, o.reliable_improvement,
           o.reliable_deterioration
    FROM analytics.outcome AS o
    JOIN analytics.service AS s ON s.service_key = o.service_key AND s.setting = 'vcse'
    WHERE (o.measure = 'SWEMWBS' OR SUBSTR(o.measure, 1, 5) = 'ONS4_')
      AND o.first_score IS NOT NULL AND o.last_score IS NOT NULL
),
sliced AS (
    SELECT
        o.measure,
        d.group_dimension,
        CASE d.group_dimension
            WHEN 'age_band' THEN COALESCE(p.age_band, 'unknown')
            WHEN 'sex' THEN COALESCE(p.sex, 'unknown')
            WHEN 'ethnic_group' THEN COALESCE(p.ethnic_group, 'unknown')
            WHEN 'imd_quintile' THEN COALESCE(p.imd_quintile, 'unknown')
            ELSE 'all'
        END AS group_value,
        o.first_score,
        o.last_score,
        o.change,
        o.reliable_improvement,
        o.reliable_deterioration
    FROM paired AS o
    LEFT JOIN person_group AS p ON p.person_key = o.person_key
    CROSS JOIN dimension AS d
)
SELECT
    measure,
    group_dimension,
    group_value,
    COUNT(*) AS paired,
    COUNT(*) FILTER (WHERE reliable_improvement) AS improved,
    COUNT(*) FILTER (WHERE reliable_deterioration) AS deteriorated,
    AVG(first_score) AS mean_first,
    AVG(last_score) AS mean_last,
    AVG(change) AS mean_change
FROM sliced
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
