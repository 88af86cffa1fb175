"""GP coded events, resolved once: each becomes a CarePlan, Observation or Condition by the kind
of its SNOMED code (codes.yaml `gp_snomed`), or is reported unmapped with the reason."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from fhir_mapping.context import MappingContext, with_record_ids
from fhir_mapping.terminology import code_maps

__all__ = ["gp_coded_events", "events_of"]

_EVENTS_SQL = """
SELECT 'gp' AS source, 'coded_event' AS table_name, e.provider_ods, e.event_id AS local_id, e.event_date,
       e.snomed_code, e.value, e.staff_role, g.kind, s.person_id, s.nhs_number, e.source_file, e.source_line,
       CASE WHEN g.kind IS NULL THEN 'unknown_snomed_code'
            WHEN NOT list_contains($kinds, g.kind) THEN 'out_of_scope_code_kind'
            WHEN s.person_id IS NULL THEN 'person_not_linked'
            WHEN g.kind = 'score' AND e.value IS NULL THEN 'missing_value' END AS reason
FROM gp_coded_event e
LEFT JOIN code_gp_snomed g ON g.code = e.snomed_code
LEFT JOIN subjects s ON s.source = 'gp' AND s.provider_ods = e.provider_ods AND s.local_patient_id = e.patient_id
ORDER BY e.provider_ods, e.event_id
"""


def gp_coded_events(ctx: MappingContext) -> pa.Table:
    """The mappable GP coded events with `kind`, person and `id`; the rest go to `unmapped`."""
    kinds = list(code_maps()["gp_event_resources"])
    return with_record_ids(ctx.keep_mapped(ctx.sql(_EVENTS_SQL, {"kinds": kinds}), "local_id"))


def events_of(events: pa.Table, resource_type: str) -> pa.Table:
    """The events whose kind becomes `resource_type`."""
    kinds = [k for k, t in code_maps()["gp_event_resources"].items() if t == resource_type]
    return events.filter(pc.is_in(events["kind"], pa.array(kinds, pa.string())))
