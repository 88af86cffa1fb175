-- The national access measures (analytics.access_event) per registered population, for the ICB
-- ('all'), each place, each PCN and each GP practice (reference.organisation: practice -> PCN ->
-- place), before disclosure control. registered_population: people in analytics.person registered
-- with the area's practices (the denominator; people who opted out are in neither numerator nor
-- denominator); numerator: people or referrals the measure counts (analytics.access_event), by the
-- practice of the person. A practice or PCN not in the reference data is 'unknown' at every level,
-- so each level adds up to its parent. Rows for every measure and area, zero where nothing happened.
WITH period AS (
    SELECT MAX(age_reference_date) AS period_end,
           MIN(CAST(CAST(SUBSTR(CAST(age_reference_date AS VARCHAR(10)), 1, 7) || '-01' AS DATE)
                    - INTERVAL '11 months' AS DATE)) AS period_start
    FROM analytics.person
),
geo AS (
    SELECT
        p.person_key,
        COALESCE(practice.ods_code, 'unknown') AS practice,
        COALESCE(pcn.ods_code, 'unknown') AS pcn,
        COALESCE(place.ods_code, 'unknown') AS place
    FROM analytics.person AS p
    LEFT JOIN reference.organisation AS practice ON practice.ods_code = p.gp_practice_ods AND practice.kind = 'gp_practice'
    LEFT JOIN reference.organisation AS pcn ON pcn.ods_code = practice.parent_ods AND pcn.kind = 'pcn'
    LEFT JOIN reference.organisation AS place ON place.ods_code = pcn.parent_ods AND place.kind = 'place'
),
area AS (
    SELECT person_key, 1 AS level_order, 'all' AS geography_level, 'all' AS geography_code,
           CAST(NULL AS VARCHAR) AS parent_code
    FROM geo
    UNION ALL SELECT person_key, 2, 'place', place, 'all' FROM geo
    UNION ALL SELECT person_key, 3, 'pcn', pcn, place FROM geo
    UNION ALL SELECT person_key, 4, 'practice', practice, pcn FROM geo
),
population AS (
    SELECT level_order, geography_level, geography_code, parent_code, COUNT(*) AS registered_population
    FROM area
    GROUP BY 1, 2, 3, 4
),
counted AS (
    SELECT e.measure, a.geography_level, a.geography_code, COUNT(*) AS numerator
    FROM analytics.access_event AS e
    JOIN area AS a ON a.person_key = e.person_key
    GROUP BY 1, 2, 3
)
SELECT
    m.measure,
    m.unit,
    p.period_start,
    p.period_end,
    pop.geography_level,
    pop.geography_code,
    COALESCE(o.name, CASE pop.geography_code WHEN 'all' THEN 'All areas' ELSE 'Unknown' END) AS geography_name,
    pop.parent_code,
    pop.registered_population,
    COALESCE(c.numerator, 0) AS numerator
FROM reference.access_measure AS m
CROSS JOIN period AS p
CROSS JOIN population AS pop
LEFT JOIN counted AS c
    ON c.measure = m.measure AND c.geography_level = pop.geography_level AND c.geography_code = pop.geography_code
LEFT JOIN reference.organisation AS o ON o.ods_code = pop.geography_code
ORDER BY m.measure, pop.level_order, pop.geography_code
