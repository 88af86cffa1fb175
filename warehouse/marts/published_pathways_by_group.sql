-- Moves between settings (analytics.journey_step), overall (group_dimension 'all') and by age band,
-- sex, ethnic group and IMD quintile ('unknown' where not known): people making each move, and the
-- share of moves the receiving service saw (attended at least once).
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
sliced AS (
    SELECT
        COALESCE(j.from_setting, 'unknown') AS from_setting,
        COALESCE(j.to_setting, 'unknown') AS to_setting,
        j.transition,
        d.group_dimension,
        CASE d.group_dimension
            WHEN 'age_band' THEN COALESCE(p.age_band, 'unknown')
            WHEN 'sex' THEN COALESCE(p.sex, 'unknown')
            WHEN 'ethnic_group' THEN COALESCE(p.ethnic_group, 'unknown')
            WHEN 'imd_quintile' THEN COALESCE(p.imd_quintile, 'unknown')
            ELSE 'all'
        END AS group_value,
        j.person_key,
        j.seen
    FROM analytics.journey_step AS j
    LEFT JOIN person_group AS p ON p.person_key = j.person_key
    CROSS JOIN dimension AS d
)
SELECT
    from_setting,
    to_setting,
    transition,
    group_dimension,
    group_value,
    COUNT(DISTINCT person_key) AS people,
    COUNT(*) FILTER (WHERE seen) AS seen_steps,
    COUNT(*) AS steps
FROM sliced
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3, 4, 5
