-- How each referral moved the person between settings (docs/metrics.md, synthetic/TRUTH.md).
-- Order. A person's referrals (analytics.referral: as received, plus GP referrals no service
-- received) in order of journey_date: the received date, or the GP's date for a referral never
-- received. Same-day referrals are ordered by the date the referral was made (the GP's date when
-- it came from a GP, else the received date), then lower setting rank first, then service, then
-- the referral's id: never by a key, so the order does not change when the pseudonymisation key does.
-- Step 1 is first_referral, from the setting the referral came from (source_setting: primary for a
-- GP, self, vcse, ...). Each later step is compared with the step just before it, from_setting
-- being that step's setting; the first rule that holds names it:
--   re_referral   the same service (service_key) as the previous step, whatever became of that
--                 one: discharged, still open (a second referral while the first is open), rejected
--                 or never received;
--   bounced_back  the previous step was rejected on or before this referral's date (or rejected
--                 with no date, as a declined VCSE referral), and this setting ranks no higher
--                 than the rejecting one (a lower or equal setting; a higher one is a step up);
--   step_up / step_down / sideways   this setting's rank (codes.yaml setting_rank: vcse 1,
--                 primary 1, talking_therapies 2, secondary 3) above / below / equal to the
--                 previous one's. A setting with no rank (service unknown) is sideways.
-- A referral made before the previous one was rejected is judged by rank (it is not a bounce).
-- days_since_previous: journey_date minus the previous step's (0 for same-day referrals; NULL at step 1).
-- seen: the receiving service attended the person at least once on this referral (attended contacts
-- only: DNAs, arrivals too late to be seen and cancellations are not being seen).
WITH ordered AS (
    SELECT
        r.person_key,
        r.referral_key,
        r.service_id,
        r.setting,
        r.source_setting,
        r.status,
        r.rejected_date,
        r.journey_date,
        r.attended_contacts,
        rk.setting_rank,
        ROW_NUMBER() OVER (
            PARTITION BY r.person_key
            ORDER BY r.journey_date, COALESCE(r.referred_date, r.journey_date), rk.setting_rank NULLS LAST,
                     r.service_id NULLS LAST, r.referral_id
        ) AS step_no
    FROM work.m_referral AS r
    LEFT JOIN reference.setting_rank AS rk ON rk.setting = r.setting
),
linked AS (
    SELECT
        o.*,
        LAG(o.service_id) OVER w AS previous_service_id,
        LAG(o.setting) OVER w AS previous_setting,
        LAG(o.status) OVER w AS previous_status,
        LAG(o.rejected_date) OVER w AS previous_rejected_date,
        LAG(o.setting_rank) OVER w AS previous_rank,
        LAG(o.journey_date) OVER w AS previous_date
    FROM ordered AS o
    WINDOW w AS (PARTITION BY o.person_key ORDER BY o.step_no)
)
SELECT
    person_key,
    step_no,
    referral_key,
    CASE WHEN step_no = 1 THEN source_setting ELSE previous_setting END AS from_setting,
    setting AS to_setting,
    CASE
        WHEN step_no = 1 THEN 'first_referral'
        WHEN service_id = previous_service_id THEN 're_referral'
        WHEN previous_status = 'rejected' AND setting_rank <= previous_rank
             AND (previous_rejected_date IS NULL OR previous_rejected_date <= journey_date) THEN 'bounced_back'
        WHEN setting_rank > previous_rank THEN 'step_up'
        WHEN setting_rank < previous_rank THEN 'step_down'
        ELSE 'sideways'
    END AS transition,
    CAST(journey_date - previous_date AS INTEGER) AS days_since_previous,
    attended_contacts >= 1 AS seen
FROM linked
