-- Paired outcomes per referral and measure (reference.md; every rule and threshold: docs/metrics.md):
-- the first and the latest valid score (m_score: one per measure and date), only where the referral
-- has at least 2 scored dates of the measure. Caseness from the measure's
-- cut-off (PHQ-9 >= 10, GAD-7 >= 8, ReQoL-10 below 25); reliable improvement / deterioration when
-- the change reaches the measure's reliable-change amount in the good / bad direction; recovery =
-- at caseness first and not last; reliable recovery = recovery and reliable improvement (for
-- ReQoL-10: baseline below 25, follow-up 25 or more, reliable improvement). A flag is NULL where its
-- rule does not apply: no cut-off or reliable-change amount, or (recovery) not at caseness first.
--
-- TT_COMBINED: the NHS Talking Therapies national definitions on PHQ-9 and GAD-7 together, one row
-- per Talking Therapies referral that finished a course of treatment with both measures paired:
-- caseness = PHQ-9 or GAD-7 at caseness; reliable improvement = either falls reliably and neither
-- rises reliably; reliable deterioration = either rises reliably. Its score columns are NULL.
WITH ranked AS (
    SELECT
        s.*,
        ROW_NUMBER() OVER (PARTITION BY referral_id, measure ORDER BY effective_date) AS from_first,
        ROW_NUMBER() OVER (PARTITION BY referral_id, measure ORDER BY effective_date DESC) AS from_last,
        COUNT(*) OVER (PARTITION BY referral_id, measure) AS scores
    FROM work.m_score AS s
),
paired AS (
    SELECT
        f.referral_id,
        f.measure,
        f.score AS first_score,
        f.effective_date AS first_date,
        l.score AS last_score,
        l.effective_date AS last_date,
        CAST(l.score AS DECIMAL(18, 6)) - CAST(f.score AS DECIMAL(18, 6)) AS change
    FROM ranked AS f
    JOIN ranked AS l ON l.referral_id = f.referral_id AND l.measure = f.measure AND l.from_last = 1
    WHERE f.from_first = 1 AND f.scores >= 2
),
rated AS (
    SELECT
        p.*,
        ms.reliable_change,
        CASE WHEN ms.caseness_min IS NOT NULL THEN p.first_score >= ms.caseness_min
             WHEN ms.caseness_max IS NOT NULL THEN p.first_score <= ms.caseness_max END AS caseness_first,
        CASE WHEN ms.caseness_min IS NOT NULL THEN p.last_score >= ms.caseness_min
             WHEN ms.caseness_max IS NOT NULL THEN p.last_score <= ms.caseness_max END AS caseness_last,
        CASE WHEN ms.reliable_change IS NULL THEN NULL
             WHEN ms.better = 'lower' THEN p.change <= -ms.reliable_change
             ELSE p.change >= ms.reliable_change END AS reliable_improvement,
        CASE WHEN ms.reliable_change IS NULL THEN NULL
             WHEN ms.better = 'lower' THEN p.change >= ms.reliable_change
             ELSE p.change <= -ms.reliable_change END AS reliable_deterioration
    FROM paired AS p
    JOIN reference.measure AS ms ON ms.measure = p.measure
),
per_measure AS (
    SELECT
        referral_id, measure, first_score, first_date, last_score, last_date,
        CAST(change AS DOUBLE PRECISION) AS change,
        caseness_first, caseness_last, reliable_improvement, reliable_deterioration,
        reliable_change IS NOT NULL AS has_reliable_change
    FROM rated
),
tt_combined AS (
    SELECT
        phq.referral_id,
        'TT_COMBINED' AS measure,
        CAST(NULL AS DOUBLE PRECISION) AS first_score,
        LEAST(phq.first_date, gad.first_date) AS first_date,
        CAST(NULL AS DOUBLE PRECISION) AS last_score,
        GREATEST(phq.last_date, gad.last_date) AS last_date,
        CAST(NULL AS DOUBLE PRECISION) AS change,
        phq.caseness_first OR gad.caseness_first AS caseness_first,
        phq.caseness_last OR gad.caseness_last AS caseness_last,
        (phq.reliable_improvement OR gad.reliable_improvement)
            AND NOT (phq.reliable_deterioration OR gad.reliable_deterioration) AS reliable_improvement,
        phq.reliable_deterioration OR gad.reliable_deterioration AS reliable_deterioration,
        TRUE AS has_reliable_change
    FROM per_measure AS phq
    JOIN per_measure AS gad ON gad.referral_id = phq.referral_id AND gad.measure = 'GAD7'
    JOIN work.m_referral AS r
        ON r.referral_id = phq.referral_id AND r.setting = 'talking_therapies' AND r.finished
    WHERE phq.measure = 'PHQ9'
),
outcome AS (
    SELECT * FROM per_measure
    UNION ALL
    SELECT * FROM tt_combined
)
SELECT
    MD5(r.referral_key || '|' || o.measure) AS outcome_key,
    r.referral_key,
    r.person_key,
    r.service_id AS service_key,
    o.measure,
    o.first_score,
    o.first_date,
    o.last_score,
    o.last_date,
    o.change,
    o.caseness_first,
    o.caseness_last,
    o.reliable_improvement,
    o.reliable_deterioration,
    CASE WHEN o.caseness_first THEN NOT o.caseness_last END AS recovery,
    CASE WHEN o.caseness_first AND o.has_reliable_change
         THEN NOT o.caseness_last AND o.reliable_improvement END AS reliable_recovery
FROM outcome AS o
JOIN work.m_referral AS r ON r.referral_id = o.referral_id
