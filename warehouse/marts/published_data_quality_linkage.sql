-- The latest linkage run's figures (analytics.linkage_figure, from linkage.linkage_summary):
-- records, how they were linked, persons, clusters of several records, and the review queue by kind.
SELECT
    measure,
    value
FROM analytics.linkage_figure
WHERE measure IN ('records', 'records_linked_on_nhs_number', 'records_linked_probabilistically',
                  'records_unlinked', 'persons', 'clusters_of_several_records')
   OR SUBSTR(measure, 1, 7) = 'reviews'
ORDER BY
    CASE measure
        WHEN 'records' THEN 1
        WHEN 'records_linked_on_nhs_number' THEN 2
        WHEN 'records_linked_probabilistically' THEN 3
        WHEN 'records_unlinked' THEN 4
        WHEN 'persons' THEN 5
        WHEN 'clusters_of_several_records' THEN 6
        WHEN 'reviews' THEN 7
        ELSE 8
    END,
    measure
