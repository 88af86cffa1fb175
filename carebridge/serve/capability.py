"""What the server says about itself: the CapabilityStatement (`GET [base]/metadata`) and the SMART
configuration (`GET [base]/.well-known/smart-configuration`)."""

from __future__ import annotations

from typing import Any

from carebridge.serve.auth import SCOPES
from carebridge.serve.clients import ALGORITHMS

__all__ = ["capability_statement", "smart_configuration", "OUTPUT_FORMATS", "NDJSON"]

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = (NDJSON, "application/ndjson", "ndjson")  # the IG's accepted spellings of NDJSON

_BULK = "http://hl7.org/fhir/uv/bulkdata"


def smart_configuration(base: str) -> dict[str, Any]:
    return {
        "issuer": base,
        "token_endpoint": f"{base}/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": list(SCOPES),
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }


_DEFINITION_PARAMS = {
    "CodeSystem": [("url", "uri", "The canonical URL of the code system")],
    "StructureDefinition": [("url", "uri", "The canonical URL of the extension's definition")],
    "NamingSystem": [("value", "string", "The identifier system (uniqueId) it defines")],
}


def _definition(rtype: str) -> dict[str, Any]:
    params = [{"name": "_id", "type": "token"}] + [{"name": n, "type": t, "documentation": d}
                                                   for n, t, d in _DEFINITION_PARAMS[rtype]]
    return {"type": rtype, "interaction": [{"code": "read"}, {"code": "search-type"}], "searchParam": params,
            "documentation": "carebridge's own definitions, published with the output (no token needed)."}


def capability_statement(base: str, types: tuple[str, ...], software_version: str,
                         definition_types: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    security = {
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}]}],
        "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                       "extension": [{"url": "token", "valueUri": f"{base}/token"}]}],
        "description": "SMART Backend Services (client credentials, private_key_jwt signed RS384 or ES384); "
                       f"see {base}/.well-known/smart-configuration",
    }
    group = {
        "type": "Group",
        "interaction": [{"code": "read"}],
        "operation": [{"name": "export", "definition": f"{_BULK}/OperationDefinition/group-export"}],
        "documentation": "One Group per organisation, its id the ODS code: the people it has a care "
                         "relationship with; a client may export only its own organisation's Group.",
    }
    resources = [group] + [{"type": t, "interaction": [{"code": "read"}]} for t in types if t != "Group"]
    resources += [_definition(t) for t in definition_types if t in _DEFINITION_PARAMS and t not in types]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-07",
        "kind": "instance",
        "instantiates": [f"{_BULK}/CapabilityStatement/bulk-data"],
        "software": {"name": "carebridge", "version": software_version},
        "implementation": {"description": "carebridge FHIR Bulk Data Access server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "security": security, "resource": resources,
                  "operation": [{"name": "export", "definition": f"{_BULK}/OperationDefinition/export",
                                 "documentation": "System-level export of everything exported, for a system "
                                                  "client (`system: true` in the client registry)."}]}],
    }
