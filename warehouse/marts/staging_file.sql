-- One row per landed file as staging recorded it (audit.load_audit): what became of it and how
-- many rows it had. Operational counts only: no person's values, no file paths.
SELECT
    source,
    table_name,
    file_status,
    rows_read,
    rows_staged,
    rows_quarantined,
    rows_superseded
FROM audit.load_audit
