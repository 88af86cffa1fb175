-- The national access measures (analytics.access_event) per registered population, overall
-- (group_dimension 'all') and by age band (on the age reference date), sex, ethnic group and IMD
-- quintile ('unknown' where not known), before disclosure control. registered_population: people
-- in analytics.person in the group (the denominator); numerator: people or referrals the measure
-- counts. Rows for every measure and group, zero where nothing happened.
WITH period AS (
    SELECT MAX(age_reference_date) AS period_end,
           MIN(CAST(CAST(SUBSTR(CAST(age_reference_date AS VARCHAR(10)), 1, 7) || '-01' AS DATE)
                    - INTERVAL '11 months' AS DATE)) AS period_start
    FROM analytics.person
),
population AS (
    SELECT group_dimension, group_value, COUNT(*) AS registered_population
    FROM analytics.person_group
    GROUP BY 1, 2
),
counted AS (
    SELECT e.measure, g.group_dimension, g.group_value, COUNT(*) AS numerator
    FROM analytics.access_event AS e
    JOIN analytics.person_group AS g ON g.person_key = e.person_key
    GROUP BY 1, 2, 3
)
SELECT
    m.measure,
    m.unit,
    p.period_start,
    p.period_end,
    pop.group_dimension,
    pop.group_value,
    pop.registered_population,
    COALESCE(c.numerator, 0) AS numerator
FROM reference.access_measure AS m
CROSS JOIN period AS p
CROSS JOIN population AS pop
LEFT JOIN counted AS c
    ON c.measure = m.measure AND c.group_dimension = pop.group_dimension AND c.group_value = pop.group_value
ORDER BY m.measure, pop.group_dimension, pop.group_value
