-- Moves between settings (analytics.journey_step), overall (group_dimension 'all') and by age band,
-- sex, ethnic group and IMD quintile ('unknown' where not known): people making each move, and the
-- share of moves the receiving service saw (attended at least once).
WITH sliced AS (
    SELECT
        COALESCE(j.from_setting, 'unknown') AS from_setting,
        COALESCE(j.to_setting, 'unknown') AS to_setting,
        j.transition,
        g.group_dimension,
        g.group_value,
        j.person_key,
        j.seen
    FROM analytics.journey_step AS j
    JOIN analytics.person_group AS g ON g.person_key = j.person_key
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
