-- title: Step-ups from Talking Therapies to secondary care and step-downs from secondary care
-- question: Who was stepped up from Talking Therapies to secondary care, and who stepped down; how long
--   each move took and whether they were seen.
-- reading: One row per move (row level, by person_key): step_up rows go from talking_therapies to
--   secondary, step_down rows from secondary to a lower-ranked setting. days_since_previous is the
--   days from the previous referral to this one; seen says whether the receiving service attended
--   the person at least once; status is the new referral's status.
SELECT
    j.transition,
    j.person_key,
    j.step_no,
    j.from_setting,
    j.to_setting,
    s.service_type_code AS to_service_type,
    j.days_since_previous,
    j.seen,
    r.status
FROM analytics.journey_step AS j
JOIN analytics.referral AS r ON r.referral_key = j.referral_key
LEFT JOIN analytics.service AS s ON s.service_key = r.service_key
WHERE (j.transition = 'step_up' AND j.from_setting = 'talking_therapies' AND j.to_setting = 'secondary')
   OR (j.transition = 'step_down' AND j.from_setting = 'secondary')
ORDER BY j.transition, j.person_key, j.step_no
