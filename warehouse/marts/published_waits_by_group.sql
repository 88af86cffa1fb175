-- Waits against each service type's access standard (analytics.wait) over the whole period,
-- overall (group_dimension 'all') and by age band, sex, ethnic group and IMD quintile ('unknown'
-- where not known): referrals that reached the measured event, their median wait in days from the
-- received date, and how many were within the standard. target_pct: the standard's target as a
-- percentage (NULL where the code list sets none), a constant, not data.
SELECT
    w.service_type_code AS service_type,
    w.wait_measure,
    w.standard_days,
    w.target_pct,
    g.group_dimension,
    g.group_value,
    COUNT(*) AS referrals,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY w.wait_days) AS median_wait_days,
    COUNT(*) FILTER (WHERE w.wait_days <= w.standard_days) AS within_standard
FROM analytics.wait AS w
JOIN analytics.person_group AS g ON g.person_key = w.person_key
GROUP BY w.service_type_code, w.wait_measure, w.standard_days, w.target_pct, g.group_dimension, g.group_value
ORDER BY 1, 2, 3, 5, 6
