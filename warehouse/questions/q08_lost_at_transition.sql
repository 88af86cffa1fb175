-- title: People referred on who were never seen by the receiving service (lost at transition)
-- question: How many people referred on were never seen by the receiving service (lost at transition)?
-- reading: Referrals made by a service: the referral came from a care setting (its source_setting - a
--   GP, a trust team, Talking Therapies or a VCSE), not a self-referral or another agency, whatever the
--   person's previous step was. By the setting referred from and to. people_referred: distinct people
--   referred; people_never_seen: people with such a referral the receiving service never attended, split
--   by that referral's status - not_received (no record of it arriving), rejected, closed without a
--   contact, still open without a contact. A person can appear in more than one status column.
WITH referred_on AS (
    SELECT r.person_key, r.source_setting AS from_setting, s.setting AS to_setting,
           r.attended_contacts > 0 AS seen, r.status
    FROM analytics.referral AS r
    LEFT JOIN analytics.service AS s ON s.service_key = r.service_key
    WHERE r.source_setting IN (SELECT setting FROM reference.setting_rank)
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
