-- title: Social prescribing: who is referred, for which needs, and what happened to wellbeing scores
-- question: Social prescribing: who is referred, for which needs, and what happened to their wellbeing scores.
-- reading: Referrals to VCSE services, one row per group: dimension 'all', 'need' (each need domain of
--   the referral: a referral with two needs counts under both), 'referred_from' (the setting the
--   referral came from), age_band, sex, ethnic_group, imd_quintile. seen: referrals with an attended
--   contact. swemwbs_paired: referrals with a first and a latest SWEMWBS (metric) score;
--   swemwbs_mean_change the mean change (higher is better); swemwbs_improved those improving by the
--   reliable-change amount; life_satisfaction_mean_change the same for ONS4 life satisfaction.
WITH sp AS (
    SELECT
        r.referral_key,
        r.person_key,
        r.reason_code,
        r.attended_contacts,
        COALESCE(r.source_setting, 'unknown') AS referred_from,
        COALESCE(p.age_band, 'unknown') AS age_band,
        COALESCE(p.sex, 'unknown') AS sex,
        COALESCE(p.ethnic_group, 'unknown') AS ethnic_group,
        COALESCE(CAST(CAST(FLOOR((p.imd_decile + 1) / 2.0) AS INTEGER) AS VARCHAR), 'unknown') AS imd_quintile
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key AND s.setting = 'vcse'
    LEFT JOIN analytics.person AS p ON p.person_key = r.person_key
),
need AS (
    SELECT sp.referral_key, d.domain
    FROM sp
    JOIN reference.vcse_need_domain AS d
        ON POSITION(';' || d.domain || ';' IN ';' || REPLACE(COALESCE(sp.reason_code, ''), ' ', '') || ';') > 0
),
sliced AS (
    SELECT 'all' AS dimension, 'all' AS value, referral_key FROM sp
    UNION ALL SELECT 'need', domain, referral_key FROM need
    UNION ALL SELECT 'referred_from', referred_from, referral_key FROM sp
    UNION ALL SELECT 'age_band', age_band, referral_key FROM sp
    UNION ALL SELECT 'sex', sex, referral_key FROM sp
    UNION ALL SELECT 'ethnic_group', ethnic_group, referral_key FROM sp
    UNION ALL SELECT 'imd_quintile', imd_quintile, referral_key FROM sp
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
