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
        o.caseness_first,
        o.recovery,
        o.reliable_improvement,
        o.reliable_recovery,
        o.reliable_deterioration,
        COALESCE(p.age_band, 'unknown') AS age_band,
        COALESCE(p.sex, 'unknown') AS sex,
        COALESCE(p.ethnic_group, 'unknown') AS ethnic_group,
        COALESCE(CAST(CAST(FLOOR((p.imd_decile + 1) / 2.0) AS INTEGER) AS VARCHAR), 'unknown') AS imd_quintile
    FROM analytics.outcome AS o
    JOIN identifiable.m_referral AS r ON r.referral_key = o.referral_key AND r.finished
    JOIN analytics.service AS s ON s.service_key = o.service_key
    LEFT JOIN analytics.person AS p ON p.person_key = o.person_key
    WHERE o.caseness_first IS NOT NULL
),
sliced AS (
    SELECT 'all' AS group_dimension, 'all' AS group_value, f.* FROM finished AS f
    UNION ALL
    SELECT 'age_band', f.age_band, f.* FROM finished AS f
    UNION ALL
    SELECT 'sex', f.sex, f.* FROM finished AS f
    UNION ALL
    SELECT 'ethnic_group', f.ethnic_group, f.* FROM finished AS f
    UNION ALL
    SELECT 'imd_quintile', f.imd_quintile, f.* FROM finished AS f
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
