-- The latest linkage run's figures (linkage.linkage_summary, written by the person_index asset):
-- counts of records, persons and reviews, never a record.
SELECT
    measure,
    value
FROM linkage.linkage_summary
