-- Referrals to VCSE (social prescribing) services by need domain (analytics.referral_need: a referral
-- with two needs counts under both; a referral with no recognised need counts under 'unknown'), overall (group_dimension 'all') and by age band,
-- sex, ethnic group and IMD quintile ('unknown' where not known): referrals, people referred, and
-- referrals seen (at least one attended contact).
WITH sp AS (
    SELECT r.referral_key, r.person_key, COALESCE(r.attended_contacts, 0) > 0 AS seen
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key AND s.setting = 'vcse'
),
needs AS (
    SELECT referral_key, need_domain FROM analytics.referral_need
    UNION ALL
    SELECT sp.referral_key, 'unknown'
    FROM sp
    WHERE NOT EXISTS (SELECT 1 FROM analytics.referral_need AS n WHERE n.referral_key = sp.referral_key)
),
sliced AS (
    SELECT
        n.need_domain,
        g.group_dimension,
        g.group_value,
        sp.person_key,
        sp.seen
    FROM needs AS n
    JOIN sp ON sp.referral_key = n.referral_key
    JOIN analytics.person_group AS g ON g.person_key = sp.person_key
)
SELECT
    need_domain,
    group_dimension,
    group_value,
    COUNT(*) AS referrals,
    COUNT(DISTINCT person_key) AS people,
    COUNT(*) FILTER (WHERE seen) AS seen
FROM sliced
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
