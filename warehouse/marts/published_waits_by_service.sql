-- Waits against each service type's access standard (analytics.wait), by the month the wait
-- ended. Only services with a standard appear. target_pct: the standard's target as a percentage
-- (NULL where the code list sets none), a constant of the code list, not data.
SELECT
    service_type_code AS service_type,
    SUBSTR(CAST(reached_date AS VARCHAR(10)), 1, 7) AS period,
    wait_measure,
    standard_days,
    COUNT(*) AS referrals,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY wait_days) AS median_wait_days,
    COUNT(*) FILTER (WHERE wait_days <= standard_days) AS within_standard,
    target_pct
FROM analytics.wait
GROUP BY 1, 2, 3, 4, target_pct
ORDER BY 1, 2, 3, 4
