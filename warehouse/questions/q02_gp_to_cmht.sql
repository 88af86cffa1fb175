-- title: GP referrals to community mental health teams: support received, rejections and what came next
-- question: What support did people referred by GPs to the CMHT receive, and how many were rejected and
--   then re-referred or picked up by a primary care mental health practitioner or VCSE?
-- reading: One row per pathway of a GP referral to a CMHT (team types A06 / A07): accepted and seen,
--   accepted not (yet) seen, never received, or rejected and then - by what came next - re-referred to a
--   CMHT, picked up by primary care mental health, referred to a VCSE service, elsewhere, or nothing.
--   What came next is the person's next referral, unless an appointment with the practice mental health
--   practitioner (a GP appointment, not a referral: service type MHP) on or after the rejection date came
--   first; a next referral to an MHP or A05 service also counts as primary care mental health.
--   referrals / people: how many; attended_contacts: CMHT contacts on those referrals; with_care_plan:
--   people with a care plan from that CMHT; next_seen: people attended at least once by what came next
--   ("picked up": the next referral's service, or the practice MHP).
WITH gp_cmht AS (
    SELECT r.*, j.step_no
    FROM analytics.referral AS r
    JOIN analytics.service AS s ON s.service_key = r.service_key
    JOIN analytics.journey_step AS j ON j.referral_key = r.referral_key
    WHERE s.service_type_code IN ('A06', 'A07')
      AND (r.referred_date IS NOT NULL OR r.source_code = 'A1')
),
next_step AS (
    SELECT g.referral_key, r.received_date, r.referred_date, s.setting, s.service_type_code, j.seen
    FROM gp_cmht AS g
    JOIN analytics.journey_step AS j ON j.person_key = g.person_key AND j.step_no = g.step_no + 1
    JOIN analytics.referral AS r ON r.referral_key = j.referral_key
    LEFT JOIN analytics.service AS s ON s.service_key = r.service_key
),
practice_mhp AS (
    -- the practice MHP's appointments with the person on or after the rejection
    SELECT g.referral_key, MIN(c.contact_date) AS first_date, BOOL_OR(c.attended) AS seen
    FROM gp_cmht AS g
    JOIN analytics.contact AS c ON c.person_key = g.person_key AND c.contact_date >= g.rejected_date
    JOIN analytics.service AS s ON s.service_key = c.service_key AND s.service_type_code = 'MHP'
    WHERE g.status = 'rejected'
    GROUP BY g.referral_key
),
care_planned AS (
    SELECT DISTINCT person_key, service_key FROM analytics.care_plan
),
followed AS (
    SELECT
        g.*,
        n.referral_key IS NOT NULL AS has_next,
        n.setting AS next_setting,
        n.service_type_code AS next_service_type,
        n.seen AS next_referral_seen,
        m.referral_key IS NOT NULL
            AND (n.referral_key IS NULL OR m.first_date < COALESCE(n.received_date, n.referred_date)) AS mhp_first,
        m.seen AS mhp_seen
    FROM gp_cmht AS g
    LEFT JOIN next_step AS n ON n.referral_key = g.referral_key
    LEFT JOIN practice_mhp AS m ON m.referral_key = g.referral_key
),
classified AS (
    SELECT
        f.referral_key,
        f.person_key,
        f.attended_contacts,
        cp.person_key IS NOT NULL AS has_care_plan,
        COALESCE(CASE WHEN f.mhp_first THEN f.mhp_seen ELSE f.next_referral_seen END, FALSE) AS next_seen,
        CASE
            WHEN f.status = 'not_received' THEN '6 never received'
            WHEN f.status <> 'rejected' AND f.attended_contacts > 0 THEN '1 accepted and seen'
            WHEN f.status <> 'rejected' THEN '2 accepted, not seen'
            WHEN f.mhp_first THEN '3b rejected, then primary care mental health'
            WHEN NOT f.has_next THEN '3e rejected, no further referral'
            WHEN f.next_service_type IN ('A06', 'A07') THEN '3a rejected, re-referred to a CMHT'
            WHEN f.next_service_type IN ('MHP', 'A05') THEN '3b rejected, then primary care mental health'
            WHEN f.next_setting = 'vcse' THEN '3c rejected, then VCSE'
            ELSE '3d rejected, then another service'
        END AS pathway
    FROM followed AS f
    LEFT JOIN care_planned AS cp ON cp.person_key = f.person_key AND cp.service_key = f.service_key
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
