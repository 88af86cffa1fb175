-- What staging did with each source table's files (analytics.staging_file, one row per file):
-- files received, files not staged (rejected whole, an unknown table, unreadable, or ignored or
-- refused by staging: see audit.load_audit.reason),
-- and rows read, staged, quarantined and superseded (replaced by a later submission).
-- Operational counts of rows and files: no person's values are read.
SELECT
    COALESCE(source, 'unknown') AS source,
    COALESCE(table_name, 'unknown') AS table_name,
    COUNT(*) AS files,
    COUNT(*) FILTER (WHERE file_status NOT IN ('loaded', 'superseded')) AS files_rejected,
    COALESCE(SUM(rows_read), 0) AS rows_read,
    COALESCE(SUM(rows_staged), 0) AS rows_staged,
    COALESCE(SUM(rows_quarantined), 0) AS rows_quarantined,
    COALESCE(SUM(rows_superseded), 0) AS rows_superseded
FROM analytics.staging_file
GROUP BY 1, 2
ORDER BY 1, 2
