-- Every person's equality groups in long form, the one place questions and published tables take
-- them from: a row per person and dimension ('all' with the value 'all', then age_band, sex,
-- ethnic_group and imd_quintile; 'unknown' where not known). Join it on person_key to slice any
-- figure by every dimension at once.
WITH person_group AS (
    SELECT
        person_key,
        COALESCE(age_band, 'unknown') AS age_band,
        COALESCE(sex, 'unknown') AS sex,
        COALESCE(ethnic_group, 'unknown') AS ethnic_group,
        COALESCE(CAST(imd_quintile AS VARCHAR), 'unknown') AS imd_quintile
    FROM analytics.person
)
SELECT person_key, 'all' AS group_dimension, 'all' AS group_value FROM person_group
UNION ALL SELECT person_key, 'age_band', age_band FROM person_group
UNION ALL SELECT person_key, 'sex', sex FROM person_group
UNION ALL SELECT person_key, 'ethnic_group', ethnic_group FROM person_group
UNION ALL SELECT person_key, 'imd_quintile', imd_quintile FROM person_group
