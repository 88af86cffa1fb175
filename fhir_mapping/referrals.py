"""All four referral tables in one canonical frame (`referrals` in the mapping's DuckDB).

ServiceRequests, EpisodeOfCares, referral matching, the bundles' care relationships and every
record that hangs off a referral (contacts, scores, VCSE plans) read this one frame, so a referral
is resolved (person, receiving service, setting, status, id) once.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from fhir_mapping.context import MappingContext, with_record_ids
from fhir_mapping.terminology import code_maps

__all__ = ["build_referrals", "referral_status"]

# One SELECT per source table, all with the same columns. `service_ods`/`service_code` name the
# receiving service; `fallback_setting` is used when services.csv does not know that service.
_PER_SOURCE = """
SELECT 'gp' AS source, 'referral' AS table_name, r.provider_ods, r.referral_id AS local_id,
       r.patient_id AS local_patient_id, r.referral_date AS received_date,
       NULL::DATE AS end_date, NULL::DATE AS rejected_date, NULL AS rejection_reason, NULL AS status_code,
       r.target_ods AS service_ods,
       CASE WHEN exact.service_code IS NOT NULL THEN exact.service_code
            WHEN sc.n = 1 THEN sc.only_code
            WHEN regexp_full_match(r.target_service, $team_type_pattern) THEN r.target_service END AS service_code,
       g.setting AS fallback_setting, r.priority AS priority_code, NULL AS reason_codes,
       NULL AS referral_source_code, r.provider_ods AS requester_ods, r.ubrn, r.snomed_code,
       r.source_file, r.source_line
FROM gp_referral r
LEFT JOIN ref_services exact ON exact.provider_ods = r.target_ods AND exact.service_code = r.target_service
LEFT JOIN service_count sc ON sc.provider_ods = r.target_ods
LEFT JOIN code_gp_snomed g ON g.code = r.snomed_code
UNION ALL
SELECT 'mhsds', 'MHS101Referral', r.provider_ods, r.ServiceRequestId, r.LocalPatientId,
       r.ReferralRequestReceivedDate, r.ServDischDate, r.ReferRejectionDate, r.ReferRejectReason, NULL,
       r.provider_ods, r.ServTeamTypeRefToMH, 'secondary', r.ClinRespPriorityType, r.PrimReasonReferralMH,
       r.SourceOfReferralMH, r.OrgIDReferringOrg, r.ubrn, NULL, r.source_file, r.source_line
FROM mhsds_MHS101Referral r
UNION ALL
SELECT 'talking_therapies', 'IDS101Referral', r.provider_ods, r.ServiceRequestId, r.LocalPatientId,
       r.ReferralRequestReceivedDate, r.ServDischDate, NULL, NULL, r.EndCode,
       r.provider_ods, coalesce(CASE WHEN sc.n = 1 THEN sc.only_code END, ds.service_code), NULL, NULL,
       r.PresentingComplaint, r.SourceOfReferralIAPT, NULL, r.ubrn, NULL, r.source_file, r.source_line
FROM talking_therapies_IDS101Referral r
LEFT JOIN service_count sc ON sc.provider_ods = r.provider_ods
LEFT JOIN map_default_service ds ON ds.source = 'talking_therapies'
UNION ALL
SELECT 'vcse', 'referral', r.provider_ods, r.referral_id, r.person_id,
       r.referral_date, r.closed_date, CASE WHEN list_contains($vcse_declined, r.status) THEN r.closed_date END,
       NULL, r.status,
       r.provider_ods, coalesce(CASE WHEN sc.n = 1 THEN sc.only_code END, ds.service_code), NULL, NULL,
       r.need_domains, r.referrer_type, r.referrer_ods, r.ubrn, NULL, r.source_file, r.source_line
FROM vcse_referral r
LEFT JOIN service_count sc ON sc.provider_ods = r.provider_ods
LEFT JOIN map_default_service ds ON ds.source = 'vcse'
"""

_REFERRALS_SQL = f"""
WITH service_count AS (
    SELECT provider_ods, count(*) AS n, min(service_code) AS only_code FROM ref_services GROUP BY provider_ods
),
base AS ({_PER_SOURCE})
SELECT b.* EXCLUDE (fallback_setting),
       coalesce(rs.setting, b.fallback_setting, ss.setting) AS setting,
       s.person_id, s.nhs_number,
       CASE WHEN s.person_id IS NULL THEN 'person_not_linked' END AS reason
FROM base b
LEFT JOIN ref_services rs ON rs.provider_ods = b.service_ods AND rs.service_code = b.service_code
LEFT JOIN map_source_setting ss ON ss.source = b.source
LEFT JOIN subjects s ON s.source = b.source AND s.provider_ods = b.provider_ods
                    AND s.local_patient_id = b.local_patient_id
ORDER BY b.source, b.provider_ods, b.local_id
"""


def referral_status(source: str, status_code: str | None, end_date: Any, rejected_date: Any) -> str:
    """ServiceRequest.status: revoked when rejected or declined, completed when ended, else active.

    A Talking Therapies referral is never rejected: IDS101 has no rejection date, and one that
    ends before treatment (EndCode 10 not suitable, 12 declined treatment) was still received and
    discharged, so it is completed like any other (the EndCode stays on the staged row)."""
    maps = code_maps()
    if source == "vcse":
        return maps["vcse_referral_status"].get(status_code or "", "active")
    if rejected_date is not None:
        return "revoked"
    return "completed" if end_date is not None else "active"


def build_referrals(ctx: MappingContext) -> pa.Table:
    """The canonical referral frame of the mapped referrals, registered as `referrals`.

    Unlinked referrals go to `unmapped`. Columns added in Python: `id` (the ServiceRequest id) and
    `status`; `episode` says whether an EpisodeOfCare exists (accepted receiving-service referrals).
    """
    maps = code_maps()
    # a declined VCSE referral was rejected on its closed_date (the rejection date of the other sources)
    declined = [code for code, status in maps["vcse_referral_status"].items() if status == "revoked"]
    frame = ctx.sql(_REFERRALS_SQL, {"team_type_pattern": maps["team_type_pattern"], "vcse_declined": declined})
    mapped = ctx.keep_mapped(frame, "local_id")
    mapped = with_record_ids(mapped)
    rows = mapped.select(["source", "status_code", "end_date", "rejected_date"]).to_pylist()
    status = [referral_status(r["source"], r["status_code"], r["end_date"], r["rejected_date"]) for r in rows]
    episode = [r["source"] != "gp" and s != "revoked" for r, s in zip(rows, status)]
    mapped = (mapped.append_column("status", pa.array(status, pa.string()))
              .append_column("episode", pa.array(episode, pa.bool_())))
    ctx.register("referrals", mapped)
    ctx.use_services(zip(*(mapped[c].to_pylist() for c in ("service_ods", "service_code", "setting"))))
    ctx.use_organisations(mapped["requester_ods"].to_pylist())
    ctx.use_organisations(mapped["service_ods"].to_pylist())
    return mapped

