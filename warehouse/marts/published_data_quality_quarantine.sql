-- Quarantined data rows by source table and reason (analytics.quarantined_row, from audit.quarantine). Line 0 is the header
-- row kept for a file rejected whole: those files are counted in data_quality_staging.files_rejected,
-- not here. Only the count of rows is read, never a row's values.
SELECT
    COALESCE(source, 'unknown') AS source,
    COALESCE(table_name, 'unknown') AS table_name,
    COALESCE(reason_code, 'unknown') AS reason_code,
    COUNT(*) AS rows
FROM analytics.quarantined_row
WHERE source_line > 0
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
