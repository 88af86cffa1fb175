-- One row per referral as the receiving service holds it, plus one per GP referral no service
-- received (status not_received). Waits are days from the received date.
SELECT
    referral_key,
    person_key,
    service_id AS service_key,
    source_setting,
    source_code,
    referring_ods,
    referred_date,
    received_date,
    priority,
    reason_code,
    status,
    rejected_date,
    discharge_date,
    first_contact_date,
    second_contact_date,
    first_treatment_date,
    wait_first_contact_days,
    wait_second_contact_days,
    attended_contacts,
    dna_contacts
FROM work.m_referral
