-- One row per quarantined row (audit.quarantine) without its values: the source table, the reason
-- and the line (line 0 is the header row kept for a file rejected whole).
SELECT
    source,
    table_name,
    reason_code,
    source_line
FROM audit.quarantine
