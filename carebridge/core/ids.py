"""Deterministic identifiers: the same source record always gets the same id (outputs.md)."""

from __future__ import annotations

import uuid

__all__ = ["NAMESPACE", "record_id", "organisation_id", "service_id", "person_id_for_nhs_number", "person_id_for_record"]

# Fixed forever: changing it would change every id a consumer has stored.
NAMESPACE = uuid.UUID("5b0f6c1e-2d1a-5f0e-9c43-6b1f3f1d2a77")


def record_id(source: str, provider_ods: str, table: str, local_id: str) -> str:
    """UUID v5 of source kind, provider ODS code, table and local id."""
    return str(uuid.uuid5(NAMESPACE, f"{source}|{provider_ods}|{table}|{local_id}"))


def organisation_id(ods_code: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"organisation|{ods_code.upper()}"))


def service_id(provider_ods: str, service_code: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"service|{provider_ods.upper()}|{service_code}"))


def person_id_for_nhs_number(nhs_number: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"person|nhs|{nhs_number}"))


def person_id_for_record(source: str, provider_ods: str, local_patient_id: str) -> str:
    """A person known only through one local record (no trustworthy NHS number yet)."""
    return str(uuid.uuid5(NAMESPACE, f"person|local|{source}|{provider_ods}|{local_patient_id}"))
