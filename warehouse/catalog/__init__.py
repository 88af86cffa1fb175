"""One owner for storage: a catalog module per stage names its tables and reads and writes them.

- `staging`: the staged tables (`staging.stg_<source>_<table>`)
- `audit`: load audit, quarantine, rows not mapped to FHIR, disclosure log
- `linkage`: the person index, its id history, reviews and run records
- `fhir`: FHIR JSON for the views, the view tables, referral matches, care relationships
- `analytics`: the marts (`work.m_*` -> `analytics.*`), keys and exclusions, reference and published tables

Assets call these and pure functions; no other module spells a warehouse table name.
"""
