-- Persons analytics may hold: those with a person_key and no national data opt-out or GP type 1
-- objection (work.analytics_exclusions). Every other mart joins through this table.
SELECT k.person_id, k.person_key
FROM work.person_key_map AS k
WHERE NOT EXISTS (
    SELECT 1 FROM work.analytics_exclusions AS x WHERE x.person_id = k.person_id
)
