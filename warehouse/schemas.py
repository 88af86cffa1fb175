"""The warehouse's schemas, by purpose and lifetime (docs/internals.md "Schemas").

Person-level, identifiable: `staging`, `linkage`, `fhir`, `work`, `audit` (the pipeline role only).
Pseudonymised or aggregate: `analytics`, `published`; code lists and organisations: `reference`.
"""

from __future__ import annotations

__all__ = ["SCHEMAS", "IDENTIFIABLE_SCHEMAS", "PSEUDONYMISED_SCHEMAS"]

SCHEMAS: dict[str, str] = {
    "staging": "the staged rows of every source table (stg_<source>_<table>), replaced each build",
    "linkage": "the person index and its history: person, person_index, id map, retired ids, reviews, runs",
    "fhir": "FHIR resources as JSON (fhir_<Type>, only while the views run), the view tables (v_*), "
            "the mapping's referral matches and care relationships",
    "work": "intermediate tables of the marts (m_*), the person_key map and exclusions, replaced each build",
    "audit": "what the pipeline did: load_audit, quarantine, fhir_unmapped, disclosure_log, stage_fingerprint",
    "analytics": "the pseudonymised row-level marts (outputs.md part B)",
    "published": "aggregates under disclosure control",
    "reference": "code lists and organisational reference data (no personal data)",
}
IDENTIFIABLE_SCHEMAS: tuple[str, ...] = ("staging", "linkage", "fhir", "work", "audit")
PSEUDONYMISED_SCHEMAS: tuple[str, ...] = ("analytics", "published", "reference")
