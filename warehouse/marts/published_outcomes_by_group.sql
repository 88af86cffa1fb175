-- Outcomes of referrals that finished (Talking Therapies: discharged after at least 2 treatment
-- contacts; other services: at least 2 attended contacts), for every measure with a caseness rule
-- (TT_COMBINED is the national Talking Therapies definition), overall and by age band, sex, ethnic
-- group and IMD quintile. Recovery rate = recovered / finished at caseness at the start; reliable
-- improvement rate = reliably improved / finished; reliable recovery rate = reliably recovered /
-- finished at caseness at the start; reliable deterioration rate = reliably deteriorated / finished.
WITH finished AS (
    SELECT
        s.service_type_code,
        o.measure,
        o.person_key,
        o.caseness_first,
        o.recovery,
        o.reliable_improvement,
        o.reliable_recovery,
        o.reliable_deterioration
    FROM analytics.outcome AS o
    JOIN analytics.finished_referral AS r ON r.referral_key = o.referral_key
    JOIN analytics.service AS s ON s.service_key = o.service_key
    WHERE o.caseness_first IS NOT NULL
),
sliced AS (
    SELECT g.group_dimension, g.group_value, f.*
    FROM finished AS f
    JOIN analytics.person_group AS g ON g.person_key = f.person_key
)
SELECT
    service_type_code AS service_type,
    measure,
    group_dimension,
    group_value,
    COUNT(*) AS finished,
    COUNT(*) FILTER (WHERE recovery) AS recovered,
    COUNT(*) FILTER (WHERE caseness_first) AS at_caseness,
    COUNT(*) FILTER (WHERE reliable_improvement) AS reliably_improved,
    COUNT(*) FILTER (WHERE reliable_recovery) AS reliably_recovered,
    COUNT(*) FILTER (WHERE reliable_deterioration) AS reliably_deteriorated
FROM sliced
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
