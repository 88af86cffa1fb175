-- title: Wait from referral to second contact by service type (median and 90th percentile)
-- question: Median and 90th percentile wait from referral to second contact, by service type.
-- reading: One row per service type. Waits are days from the date the service received the referral
--   to the second attended contact (DNAs and cancellations do not count). reached_second_contact is
--   how many referrals the percentiles describe; still_waiting are open referrals not yet at their
--   second contact (not in the percentiles). Percentiles are interpolated (PERCENTILE_CONT).
SELECT
    s.service_type_code,
    s.service_type_name,
    COUNT(r.wait_second_contact_days) AS reached_second_contact,
    COUNT(*) FILTER (WHERE r.wait_second_contact_days IS NULL AND r.status = 'open') AS still_waiting,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY r.wait_second_contact_days) AS median_days,
    PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY r.wait_second_contact_days) AS p90_days
FROM analytics.referral AS r
JOIN analytics.service AS s ON s.service_key = r.service_key
WHERE r.received_date IS NOT NULL
GROUP BY s.service_type_code, s.service_type_name
ORDER BY s.service_type_code
