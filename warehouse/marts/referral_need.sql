-- The needs a voluntary sector (VCSE) referral was made for: one row per referral and need domain
-- (reference.vcse_need_domain) named in its reason code, a `;`-separated list (spaces ignored). A
-- referral with two needs has two rows; one naming no known domain has none.
SELECT r.referral_key, r.person_key, d.domain AS need_domain
FROM analytics.referral AS r
JOIN analytics.service AS s ON s.service_key = r.service_key AND s.setting = 'vcse'
JOIN reference.vcse_need_domain AS d
    ON POSITION(';' || d.domain || ';' IN ';' || REPLACE(COALESCE(r.reason_code, ''), ' ', '') || ';') > 0
