-- Wellbeing scores of VCSE (social prescribing) referrals: SWEMWBS (metric score) and each ONS4
-- personal wellbeing item in analytics.outcome, overall (group_dimension 'all') and by age band, sex,
-- ethnic group and IMD quintile ('unknown' where not known): referrals with a first and a latest
-- score (paired), those improving / deteriorating by the measure's reliable-change amount (none
-- where the measure has no such amount), and the mean first, latest and change of the paired scores.
WITH paired AS (
    SELECT o.measure, o.person_key, o.first_score, o.last_score, o.change, o.reliable_improvement,
           o.reliable_deterioration
    FROM analytics.outcome AS o
    JOIN analytics.service AS s ON s.service_key = o.service_key AND s.setting = 'vcse'
    WHERE (o.measure = 'SWEMWBS' OR SUBSTR(o.measure, 1, 5) = 'ONS4_')
      AND o.first_score IS NOT NULL AND o.last_score IS NOT NULL
),
sliced AS (
    SELECT
        o.measure,
        g.group_dimension,
        g.group_value,
        o.first_score,
        o.last_score,
        o.change,
        o.reliable_improvement,
        o.reliable_deterioration
    FROM paired AS o
    JOIN analytics.person_group AS g ON g.person_key = o.person_key
)
SELECT
    measure,
    group_dimension,
    group_value,
    COUNT(*) AS paired,
    COUNT(*) FILTER (WHERE reliable_improvement) AS improved,
    COUNT(*) FILTER (WHERE reliable_deterioration) AS deteriorated,
    AVG(first_score) AS mean_first,
    AVG(last_score) AS mean_last,
    AVG(change) AS mean_change
FROM sliced
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
