-- title: GP referrals to community mental health teams: support received, rejections and what came next
-- question: What support did people referred by GPs to the CMHT receive, and how many were rejected and
--   then re-referred or picked up by a primary care mental health practitioner or VCSE?
-- reading: One row per pathway of a GP referral to a CMHT (team types A06 / A07): accepted and seen,
--   accepted not (yet) seen, never received, or rejected and then - by the person's next referral -
--   re-referred to a CMHT, referred to primary care mental health (practice MHP or A05 team), to a
--   VCSE service, elsewhere, or nowhere. referrals / people: how many; attended_contacts: CMHT contacts
--   on those referrals; with_care_plan: people with a care plan from that CMHT; next_seen: people the
--   next service attended at least once ("picked up").
WITH gp_cmht AS (
    SELECT r.*, j.step_no
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key
    JOIN analytics.journey_step AS j ON j.referral_key = r.referral_key
    WHERE s.service_type_code IN ('A06', 'A07')
      AND (r.referred_date IS NOT NULL OR r.source_code = 'A1')
),
next_step AS (
    SELECT g.referral_key, s.setting, s.service_type_code, j.seen
    FROM gp_cmht AS g
    JOIN analytics.journey_step AS j ON j.person_key = g.person_key AND j.step_no = g.step_no + 1
    JOIN analytics.referral AS r ON r.referral_key = j.referral_key
    LEFT JOIN analytics.service AS s ON s.service_key = r.service_key
),
care_planned AS (
    SELECT DISTINCT person_key, service_key FROM analytics.care_plan
),
classified AS (
    SELECT
        g.referral_key,
        g.person_key,
        g.attended_contacts,
        cp.person_key IS NOT NULL AS has_care_plan,
        COALESCE(n.seen, FALSE) AS next_seen,
        CASE
            WHEN g.status = 'not_received' THEN '6 never received'
            WHEN g.status <> 'rejected' AND g.attended_contacts > 0 THEN '1 accepted and seen'
            WHEN g.status <> 'rejected' THEN '2 accepted, not seen'
            WHEN n.referral_key IS NULL THEN '3e rejected, no further referral'
            WHEN n.service_type_code IN ('A06', 'A07') THEN '3a rejected, re-referred to a CMHT'
            WHEN n.service_type_code IN ('MHP', 'A05') THEN '3b rejected, then primary care mental health'
            WHEN n.setting = 'vcse' THEN '3c rejected, then VCSE'
            ELSE '3d rejected, then another service'
        END AS pathway
    FROM gp_cmht AS g
    LEFT JOIN next_step AS n ON n.referral_key = g.referral_key
    LEFT JOIN care_planned AS cp ON cp.person_key = g.person_key AND cp.service_key = g.service_key
)
SELECT
    pathway,
    COUNT(*) AS referrals,
    COUNT(DISTINCT person_key) AS people,
    CAST(SUM(attended_contacts) AS BIGINT) AS attended_contacts,
    COUNT(DISTINCT person_key) FILTER (WHERE has_care_plan) AS with_care_plan,
    COUNT(DISTINCT person_key) FILTER (WHERE next_seen) AS next_seen
FROM classified
GROUP BY pathway
ORDER BY pathway
