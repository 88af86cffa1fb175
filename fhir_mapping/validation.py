"""FHIR R4 validation of mapped resources, in parallel processes.

By default each resource is checked by the compiled validator (`compiled_validation`: a JSON
Schema derived from the `fhir.resources.R4B` models, run by `jsonschema-rs`, about 10x faster
and stricter on references, required value sets and periods); `strict=True` validates each one
with the `fhir.resources.R4B` models themselves. Invalid resources are counted and listed with the
validator's message, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from fhir_mapping.compiled_validation import validate_compiled

__all__ = ["ValidationReport", "validate_resources", "validate_chunk", "validate_models"]

CHUNK_SIZE = 2_000


@dataclass(frozen=True)
class ValidationReport:
    checked: int
    failures: list[dict[str, str]] = field(default_factory=list)   # {resource_type, id, error}

    @property
    def ok(self) -> bool:
        return not self.failures


def validate_chunk(resources: list[dict[str, Any]], strict: bool = False) -> list[dict[str, str]]:
    """One failure entry per invalid resource: compiled validation, or the R4B models when `strict`."""
    return validate_models(resources) if strict else validate_compiled(resources)


def validate_models(resources: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Validate resources against their R4B model; one failure entry per invalid resource."""
    failures = []
    for resource in resources:
        rtype = resource.get("resourceType", "")
        try:
            get_fhir_model_class(rtype).model_validate(resource)
        except Exception as exc:  # noqa: BLE001 - any failure to build the model is a validation failure
            failures.append({"resource_type": rtype, "id": str(resource.get("id")), "error": str(exc)})
    return failures


def _chunks(resources: dict[str, list[dict[str, Any]]], size: int) -> Iterator[list[dict[str, Any]]]:
    flat = [r for rtype in sorted(resources) for r in resources[rtype]]
    for start in range(0, len(flat), size):
        yield flat[start:start + size]


def validate_resources(resources: dict[str, list[dict[str, Any]]], workers: int = 2,
                       chunk_size: int = CHUNK_SIZE, strict: bool = False) -> ValidationReport:
    """Validate every resource; chunks run in `workers` processes (inline when one chunk or one worker)."""
    chunks = list(_chunks(resources, chunk_size))
    checked = sum(len(c) for c in chunks)
    if workers <= 1 or len(chunks) <= 1:
        results = [validate_chunk(c, strict) for c in chunks]
    else:
        # spawn, not fork: the caller may hold DuckDB or Dagster threads that a fork would copy mid-flight.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(validate_chunk, chunks, [strict] * len(chunks)))
    failures = [f for chunk in results for f in chunk]
    return ValidationReport(checked=checked, failures=sorted(failures, key=lambda f: (f["resource_type"], f["id"])))
