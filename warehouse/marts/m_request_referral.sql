-- The referral each ServiceRequest id stands for: a referral's own id, and the id of the GP's
-- referral a receiving record was matched to (so contacts or scores basedOn either are found).
SELECT referral_id AS service_request_id, referral_id
FROM work.m_referral_base
UNION ALL
SELECT gp_request_id AS service_request_id, referral_id
FROM work.m_referral_base
WHERE gp_request_id IS NOT NULL
