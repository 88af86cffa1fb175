-- Referrals with what happened on them (rules and thresholds: docs/metrics.md). Waits count
-- ATTENDED contacts on or after the received date (DNAs, arrivals too late to be seen and
-- cancellations are not contacts); first treatment is, in Talking Therapies, the
-- first attended contact of a treatment appointment type, elsewhere the first attended contact.
-- Status: not_received, rejected (rejection date or revoked), closed (discharged or completed), open.
-- finished: Talking Therapies - discharged with at least 2 treatment contacts; other services -
-- at least 2 attended contacts (reference.md: count open referrals once they have 2 contacts).
WITH attended AS (
    SELECT
        c.referral_id,
        c.contact_date,
        c.is_treatment,
        ROW_NUMBER() OVER (PARTITION BY c.referral_id ORDER BY c.contact_date, c.encounter_id) AS nth
    FROM work.m_contact AS c
    JOIN work.m_referral_base AS b ON b.referral_id = c.referral_id
    WHERE c.attended AND c.contact_date >= b.received_date
),
waits AS (
    SELECT
        referral_id,
        MIN(contact_date) FILTER (WHERE nth = 1) AS first_contact_date,
        MIN(contact_date) FILTER (WHERE nth = 2) AS second_contact_date,
        MIN(contact_date) FILTER (WHERE is_treatment) AS first_treatment_contact_date,
        COUNT(*) FILTER (WHERE is_treatment) AS treatment_contacts
    FROM attended
    GROUP BY referral_id
),
contacts AS (
    SELECT
        referral_id,
        COUNT(*) FILTER (WHERE attended) AS attended_contacts,
        COUNT(*) FILTER (WHERE did_not_attend) AS dna_contacts,
        MAX(contact_date) FILTER (WHERE attended) AS last_contact_date
    FROM work.m_contact
    WHERE referral_id IS NOT NULL
    GROUP BY referral_id
),
joined AS (
    SELECT
        b.*,
        CASE
            WHEN b.not_received THEN 'not_received'
            WHEN b.rejected_date IS NOT NULL OR b.request_status = 'revoked' THEN 'rejected'
            WHEN b.discharge_date IS NOT NULL OR b.request_status = 'completed' THEN 'closed'
            ELSE 'open'
        END AS status,
        w.first_contact_date,
        w.second_contact_date,
        CASE WHEN b.setting = 'talking_therapies' THEN w.first_treatment_contact_date
             ELSE w.first_contact_date END AS first_treatment_date,
        COALESCE(w.treatment_contacts, 0) AS treatment_contacts,
        COALESCE(c.attended_contacts, 0) AS attended_contacts,
        COALESCE(c.dna_contacts, 0) AS dna_contacts,
        c.last_contact_date
    FROM work.m_referral_base AS b
    LEFT JOIN waits AS w ON w.referral_id = b.referral_id
    LEFT JOIN contacts AS c ON c.referral_id = b.referral_id
)
SELECT
    joined.*,
    CAST(first_contact_date - received_date AS INTEGER) AS wait_first_contact_days,
    CAST(second_contact_date - received_date AS INTEGER) AS wait_second_contact_days,
    CAST(first_treatment_date - received_date AS INTEGER) AS wait_first_treatment_days,
    CASE WHEN setting = 'talking_therapies' THEN status = 'closed' AND treatment_contacts >= 2
         ELSE attended_contacts >= 2 END AS finished
FROM joined
