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
    SELECT DISTINCT
        m.month,
        c.service_key,
        c.person_key,
        COALESCE(p.age_band, 'unknown') AS age_band,
        COALESCE(p.sex, 'unknown') AS sex,
        COALESCE(p.ethnic_group, 'unknown') AS ethnic_group,
        COALESCE(CAST(CAST(FLOOR((p.imd_decile + 1) / 2.0) AS INTEGER) AS VARCHAR), 'unknown') AS imd_quintile
    FROM analytics.contact AS c
    JOIN this_month AS m ON SUBSTR(CAST(c.contact_date AS VARCHAR(10)), 1, 7) = m.month
    LEFT JOIN analytics.person AS p ON p.person_key = c.person_key
    WHERE c.attended
),
sliced AS (
    SELECT month, service_key, person_key, 'all' AS group_dimension, 'all' AS group_value FROM seen
    UNION ALL
    SELECT month, service_key, person_key, 'age_band', age_band FROM seen
    UNION ALL
    SELECT month, service_key, person_key, 'sex', sex FROM seen
    UNION ALL
    SELECT month, service_key, person_key, 'ethnic_group', ethnic_group FROM seen
    UNION ALL
    SELECT month, service_key, person_key, 'imd_quintile', imd_quintile FROM seen
)
SELECT
    sl.month,
    s.provider_ods,
    s.service_type_code,
    s.service_type_name,
    sl.group_dimension,
    sl.group_value,
    COUNT(DISTINCT sl.person_key) AS people
FROM sliced AS sl
JOIN analytics.service AS s ON s.service_key = sl.service_key
GROUP BY sl.month, s.provider_ods, s.service_type_code, s.service_type_name, sl.group_dimension, sl.group_value
ORDER BY s.provider_ods, s.service_type_code, sl.group_dimension, sl.group_value
