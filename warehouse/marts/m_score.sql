-- Valid scores per referral, measure and assessment date (docs/metrics.md).
-- A recorded value is valid when it has a date, lies in the measure's range (reference.measure
-- min..max, ends included) and is a whole number (every measure of codes.yaml is recorded in whole
-- points, per item or as a total); a converted measure (SWEMWBS: raw total -> metric score) takes
-- its score from the lookup, so a raw total with no entry is not valid either.
-- One measure on one date is one assessment: several valid values of a single-score measure on the
-- same date are averaged (so a same-day repeat never makes a pair). A measure scored from numbered
-- items (DIALOG: items 1-8, reference.measure_code item/in_score) needs every one of them valid on
-- that date, and scores their mean (each item's values averaged first); a date with an item missing
-- or invalid is no score. Goal-Based Outcomes score the mean of the goals recorded that date.
-- Scores are kept to 6 decimals so comparisons with the thresholds are exact.
WITH observation AS (
    SELECT DISTINCT
        o.observation_id,
        m.referral_id,
        mc.measure,
        mc.item,
        CAST(NULLIF(SUBSTR(CAST(o.effective_date AS VARCHAR(32)), 1, 10), '') AS DATE) AS effective_date,
        CAST(o.value AS DOUBLE PRECISION) AS value
    FROM fhir.v_observation AS o
    JOIN work.m_request_referral AS m ON m.service_request_id = o.service_request_id
    JOIN reference.measure_code AS mc
        ON mc.in_score
       AND (mc.code_system IS NULL OR mc.code_system = o.code_system)
       AND mc.code IN (o.code, o.item)
),
items_needed AS (
    SELECT measure, COUNT(DISTINCT item) AS items_needed
    FROM reference.measure_code
    WHERE item IS NOT NULL AND in_score
    GROUP BY measure
),
checked AS (
    SELECT
        ob.referral_id,
        ob.measure,
        ob.effective_date,
        ob.item,
        COALESCE(ob.value BETWEEN ms.min_value AND ms.max_value AND ob.value = FLOOR(ob.value)
                 AND (NOT ms.converted OR cv.score IS NOT NULL), FALSE) AS is_valid,
        CASE WHEN ms.converted THEN cv.score ELSE ob.value END AS item_score
    FROM observation AS ob
    JOIN reference.measure AS ms ON ms.measure = ob.measure
    LEFT JOIN reference.score_conversion AS cv ON cv.measure = ob.measure AND cv.raw_score = ob.value
    WHERE ob.effective_date IS NOT NULL
),
per_item AS (
    -- item is NULL for a single-score measure (and for the goals of GBO): one group per date
    SELECT
        referral_id,
        measure,
        effective_date,
        item,
        AVG(item_score) FILTER (WHERE is_valid) AS item_score,
        COUNT(*) FILTER (WHERE is_valid) AS valid_values,
        COUNT(*) FILTER (WHERE NOT is_valid) AS invalid_values
    FROM checked
    GROUP BY referral_id, measure, effective_date, item
),
per_date AS (
    SELECT
        referral_id,
        measure,
        effective_date,
        AVG(item_score) AS score,
        SUM(valid_values) AS valid_values,
        COUNT(item_score) FILTER (WHERE item IS NOT NULL) AS valid_items,
        SUM(invalid_values) FILTER (WHERE item IS NOT NULL) AS invalid_item_values
    FROM per_item
    GROUP BY referral_id, measure, effective_date
)
SELECT
    d.referral_id,
    d.measure,
    d.effective_date,
    CAST(CAST(d.score AS DECIMAL(18, 6)) AS DOUBLE PRECISION) AS score,
    CAST(d.valid_values AS BIGINT) AS items
FROM per_date AS d
LEFT JOIN items_needed AS n ON n.measure = d.measure
WHERE d.valid_values > 0
  AND (n.items_needed IS NULL
       OR (d.valid_items = n.items_needed AND COALESCE(d.invalid_item_values, 0) = 0))
