-- title: Step-ups from Talking Therapies to secondary care and step-downs from secondary care
-- question: How many people were stepped up from Talking Therapies to secondary care, and how many
--   stepped down; how long the moves took and whether the receiving service saw them.
-- reading: One row per kind of move and receiving service type (aggregates, no person keys):
--   step_up rows go from talking_therapies to secondary, step_down rows from secondary to a
--   lower-ranked setting. people counts distinct people, moves counts referrals (a person can move
--   more than once). median_days_since_previous is the median of the days from the previous referral
--   to this one (interpolated, PERCENTILE_CONT); moves_seen the moves where the receiving service
--   attended the person at least once (pct_seen of moves); moves_open the new referrals still open.
SELECT
    j.transition,
    j.from_setting,
    j.to_setting,
    s.service_type_code AS to_service_type,
    COUNT(DISTINCT j.person_key) AS people,
    COUNT(*) AS moves,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY j.days_since_previous) AS median_days_since_previous,
    COUNT(*) FILTER (WHERE j.seen) AS moves_seen,
    100.0 * COUNT(*) FILTER (WHERE j.seen) / COUNT(*) AS pct_seen,
    COUNT(*) FILTER (WHERE r.status = 'open') AS moves_open
FROM analytics.journey_step AS j
JOIN analytics.referral AS r ON r.referral_key = j.referral_key
LEFT JOIN analytics.service AS s ON s.service_key = r.service_key
WHERE (j.transition = 'step_up' AND j.from_setting = 'talking_therapies' AND j.to_setting = 'secondary')
   OR (j.transition = 'step_down' AND j.from_setting = 'secondary')
GROUP BY j.transition, j.from_setting, j.to_setting, s.service_type_code
ORDER BY j.transition, j.from_setting, j.to_setting, s.service_type_code
