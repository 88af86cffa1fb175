-- Moves between settings (analytics.journey_step): people making each move, the median days since
-- their previous referral (none for a first referral), and the share of moves the receiving service
-- saw (attended at least once).
SELECT
    COALESCE(from_setting, 'unknown') AS from_setting,
    COALESCE(to_setting, 'unknown') AS to_setting,
    transition,
    COUNT(DISTINCT person_key) AS people,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY days_since_previous) AS median_days_between,
    COUNT(days_since_previous) AS days_counted,
    COUNT(*) FILTER (WHERE seen) AS seen_steps,
    COUNT(*) AS steps
FROM analytics.journey_step
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
