-- title: Social prescribing: who is referred, for which needs, and what happened to wellbeing scores
-- question: Social prescribing: who is referred, for which needs, and what happened to their wellbeing scores.
-- reading: Referrals to VCSE services, one row per group: dimension 'all', 'need' (each need domain of
--   the referral: a referral with two needs counts under both), 'referred_from' (the setting the
--   referral came from), age_band, sex, ethnic_group, imd_quintile. seen: referrals with an attended
--   contact. swemwbs_paired: referrals with a first and a latest SWEMWBS (metric) score;
--   swemwbs_mean_change the mean change (higher is better); swemwbs_improved those improving by the
--   reliable-change amount; life_satisfaction_mean_change the same for ONS4 life satisfaction.
WITH sp AS (
    SELECT r.referral_key, r.person_key, r.attended_contacts, COALESCE(r.source_setting, 'unknown') AS referred_from
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key AND s.setting = 'vcse'
),
sliced AS (
    SELECT g.group_dimension AS dimension, g.group_value AS value, sp.referral_key
    FROM sp
    JOIN analytics.person_group AS g ON g.person_key = sp.person_key
    UNION ALL SELECT 'need', need_domain, referral_key FROM analytics.referral_need
    UNION ALL SELECT 'referred_from', referred_from, referral_key FROM sp
),
swemwbs AS (
    SELECT referral_key, change, reliable_improvement FROM analytics.outcome WHERE measure = 'SWEMWBS'
),
life_satisfaction AS (
    SELECT referral_key, change FROM analytics.outcome WHERE measure = 'ONS4_LIFE_SATISFACTION'
)
SELECT
    sl.dimension,
    sl.value,
    COUNT(*) AS referrals,
    COUNT(DISTINCT sp.person_key) AS people,
    COUNT(*) FILTER (WHERE sp.attended_contacts > 0) AS seen,
    COUNT(sw.change) AS swemwbs_paired,
    AVG(sw.change) AS swemwbs_mean_change,
    COUNT(*) FILTER (WHERE sw.reliable_improvement) AS swemwbs_improved,
    AVG(ls.change) AS life_satisfaction_mean_change
FROM sliced AS sl
JOIN sp ON sp.referral_key = sl.referral_key
LEFT JOIN swemwbs AS sw ON sw.referral_key = sl.referral_key
LEFT JOIN life_satisfaction AS ls ON ls.referral_key = sl.referral_key
GROUP BY sl.dimension, sl.value
ORDER BY sl.dimension, sl.value
