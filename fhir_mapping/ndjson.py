"""FHIR Bulk Data export layout: `fhir/ndjson/<Type>.ndjson` and `manifest.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fhir_mapping.terminology import terminology

__all__ = ["write_ndjson", "read_ndjson", "dumps"]


def dumps(resource: dict[str, Any]) -> str:
    """The canonical JSON of a resource: compact, keys sorted, so equal resources give equal bytes."""
    return json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _write_type(path: Path, resources: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for resource in resources:
            fh.write(dumps(resource))
            fh.write("\n")


def write_ndjson(resources: dict[str, list[dict[str, Any]]], out_dir: Path, transaction_time: str) -> Path:
    """Write one NDJSON file per resource type and the manifest; returns the manifest's path.

    Files of types no longer produced are removed, so the folder is exactly this run's export.
    """
    folder = Path(out_dir) / "fhir" / "ndjson"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.ndjson"):
        stale.unlink()
    output = []
    for rtype in sorted(resources):
        items = resources[rtype]
        if not items:
            continue
        _write_type(folder / f"{rtype}.ndjson", items)
        output.append({"type": rtype, "url": f"{rtype}.ndjson", "count": len(items)})
    manifest = {"transactionTime": transaction_time, "request": terminology()["bulk_request"],
                "requiresAccessToken": False, "output": output, "error": []}
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return path


def read_ndjson(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Read back an export written by `write_ndjson` (the files its manifest lists)."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    resources: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        with open(folder / item["url"], encoding="utf-8") as fh:
            resources[item["type"]] = [json.loads(line) for line in fh if line.strip()]
    return resources
