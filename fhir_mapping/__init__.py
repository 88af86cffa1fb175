"""FHIR mapping: staged rows + person index + reference data -> FHIR R4 / UK Core resources.

Pure functions, no Dagster, no database (docs/internals.md, FHIR mapping):
`map_resources` -> `MappingResult`; `validate_resources` -> `ValidationReport`;
`write_ndjson` (Bulk Data layout); `care_relationships` and `write_bundles` (per-organisation
monthly transaction Bundles). The pipeline uses the batched forms with the same output:
`write_fhir_export` (mapping, validation and NDJSON in shards of people) and
`write_bundles_from_ndjson` (bundles streamed from the NDJSON export).
"""

from fhir_mapping.bundles import (CARE_RELATIONSHIP_SCHEMA, BundleExport, care_relationships, write_bundles,
                                  write_bundles_from_ndjson)
from fhir_mapping.context import UNMAPPED_SCHEMA, PersonIndexLike
from fhir_mapping.export import FhirExport, write_fhir_export
from fhir_mapping.mapping import MappingResult, map_resources
from fhir_mapping.ndjson import read_ndjson, write_ndjson
from fhir_mapping.referral_matching import MATCH_SCHEMA
from fhir_mapping.validation import ValidationReport, validate_resources

__all__ = ["map_resources", "MappingResult", "validate_resources", "ValidationReport", "write_ndjson", "read_ndjson",
           "write_bundles", "care_relationships", "PersonIndexLike", "UNMAPPED_SCHEMA", "MATCH_SCHEMA",
           "CARE_RELATIONSHIP_SCHEMA", "write_fhir_export", "FhirExport", "write_bundles_from_ndjson",
           "BundleExport"]
