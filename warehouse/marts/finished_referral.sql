-- The referrals that finished (Talking Therapies: discharged after at least 2 treatment contacts;
-- other services: at least 2 attended contacts), by referral_key: what published.outcomes_by_group
-- reads, so that published tables read only `analytics` and `reference`.
SELECT referral_key
FROM work.m_referral
WHERE finished
