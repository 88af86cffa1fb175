-- title: People seen by each service this month, by age band, sex, ethnic group and IMD quintile
-- question: How many people did each service see this month, by age band, sex, ethnic group, IMD quintile?
-- reading: One row per service and group. `month` is the latest month with an attended contact;
--   `people` counts distinct people with at least one attended contact at the service in that month.
--   Within a service each group_dimension ('all', age_band, sex, ethnic_group, imd_quintile) adds up
--   to the 'all' row; 'unknown' is a missing value. Row-level counts: not disclosure-controlled.
WITH this_month AS (
    SELECT SUBSTR(CAST(MAX(contact_date) AS VARCHAR(10)), 1, 7) AS month
    FROM analytics.contact
    WHERE attended
),
seen AS (
    SELECT DISTINCT m.month, c.service_key, c.person_key
    FROM analytics.contact AS c
    JOIN this_month AS m ON SUBSTR(CAST(c.contact_date AS VARCHAR(10)), 1, 7) = m.month
    WHERE c.attended
)
SELECT
    sl.month,
    s.provider_ods,
    s.service_type_code,
    s.service_type_name,
    g.group_dimension,
    g.group_value,
    COUNT(DISTINCT sl.person_key) AS people
FROM seen AS sl
JOIN analytics.person_group AS g ON g.person_key = sl.person_key
JOIN analytics.service AS s ON s.service_key = sl.service_key
GROUP BY sl.month, s.provider_ods, s.service_type_code, s.service_type_name, g.group_dimension, g.group_value
ORDER BY s.provider_ods, s.service_type_code, g.group_dimension, g.group_value
