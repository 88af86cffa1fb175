-- Each person's referrals in order (received date, or the GP's date for a referral never received;
-- ties by referral_key) and how each one moved them: step 1 first_referral (from the setting the
-- referral came from); then re_referral (same service as the previous step), bounced_back (the
-- previous step was rejected and this setting ranks no higher), step_up / step_down / sideways by
-- the settings' rank (codes.yaml setting_rank). seen: the receiving service attended them at least once.
WITH ordered AS (
    SELECT
        r.person_key,
        r.referral_key,
        r.service_id,
        r.setting,
        r.source_setting,
        r.status,
        r.journey_date,
        r.attended_contacts,
        rk.setting_rank,
        ROW_NUMBER() OVER (PARTITION BY r.person_key ORDER BY r.journey_date, r.referral_key) AS step_no
    FROM identifiable.m_referral AS r
    LEFT JOIN reference.setting_rank AS rk ON rk.setting = r.setting
),
linked AS (
    SELECT
        o.*,
        LAG(o.service_id) OVER w AS previous_service_id,
        LAG(o.setting) OVER w AS previous_setting,
        LAG(o.status) OVER w AS previous_status,
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
        WHEN previous_status = 'rejected' AND setting_rank <= previous_rank THEN 'bounced_back'
        WHEN setting_rank > previous_rank THEN 'step_up'
        WHEN setting_rank < previous_rank THEN 'step_down'
        ELSE 'sideways'
    END AS transition,
    CAST(journey_date - previous_date AS INTEGER) AS days_since_previous,
    attended_contacts >= 1 AS seen
FROM linked
