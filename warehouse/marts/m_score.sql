-- Valid scores per referral, measure and assessment date. A value outside the measure's range is
-- not valid; a converted measure (SWEMWBS: raw total -> metric score) takes its score from the
-- lookup; a multi-item measure scores the mean of its items on that date (DIALOG items 1-8, the
-- goals of Goal-Based Outcomes). Scores are kept to 6 decimals so comparisons are exact.
WITH observation AS (
    SELECT DISTINCT
        o.observation_id,
        m.referral_id,
        mc.measure,
        mc.item,
        CAST(NULLIF(SUBSTR(CAST(o.effective_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS effective_date,
        CAST(o.value AS DOUBLE PRECISION) AS value
    FROM identifiable.v_observation AS o
    JOIN identifiable.m_request_referral AS m ON m.service_request_id = o.service_request_id
    JOIN reference.measure_code AS mc
        ON mc.in_score
       AND (mc.code_system IS NULL OR mc.code_system = o.code_system)
       AND mc.code IN (o.code, o.item)
),
scored AS (
    SELECT
        ob.referral_id,
        ob.measure,
        ob.effective_date,
        CASE WHEN ms.converted THEN cv.score ELSE ob.value END AS item_score
    FROM observation AS ob
    JOIN reference.measure AS ms ON ms.measure = ob.measure
    LEFT JOIN reference.score_conversion AS cv ON cv.measure = ob.measure AND cv.raw_score = ob.value
    WHERE ob.effective_date IS NOT NULL
      AND ob.value BETWEEN ms.min_value AND ms.max_value
      AND (NOT ms.converted OR cv.score IS NOT NULL)
)
SELECT
    referral_id,
    measure,
    effective_date,
    CAST(CAST(AVG(item_score) AS DECIMAL(18, 6)) AS DOUBLE PRECISION) AS score,
    COUNT(*) AS items
FROM scored
GROUP BY referral_id, measure, effective_date
