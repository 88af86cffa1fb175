-- title: People referred on who were never seen by the receiving service (lost at transition)
-- question: How many people referred on were never seen by the receiving service (lost at transition)?
-- reading: Referrals made by a service (the journey step comes from a care setting, not self-referral
--   or other agencies), by the setting moved from and to. people_referred: distinct people referred;
--   people_never_seen: people with such a referral the receiving service never attended, split by that
--   referral's status - not_received (no record of it arriving), rejected, closed without a contact,
--   still open without a contact. A person can appear in more than one status column.
WITH referred_on AS (
    SELECT j.person_key, j.from_setting, j.to_setting, j.seen, r.status
    FROM analytics.journey_step AS j
    JOIN analytics.referral AS r ON r.referral_key = j.referral_key
    WHERE j.from_setting IN (SELECT setting FROM reference.setting_rank)
)
SELECT
    from_setting,
    COALESCE(to_setting, 'unknown') AS to_setting,
    COUNT(DISTINCT person_key) AS people_referred,
    COUNT(DISTINCT person_key) FILTER (WHERE NOT seen) AS people_never_seen,
    COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'not_received') AS not_received,
    COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'rejected') AS rejected,
    COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'closed') AS closed_unseen,
    COUNT(DISTINCT person_key) FILTER (WHERE NOT seen AND status = 'open') AS open_unseen
FROM referred_on
GROUP BY from_setting, COALESCE(to_setting, 'unknown')
ORDER BY from_setting, to_setting
