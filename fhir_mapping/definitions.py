"""Definitions of carebridge's own code systems, identifier systems and extensions, generated from
terminology.yaml and the code lists, published with the output (`fhir/definitions/`) so a strict
validator (or a recipient) can resolve every local URL the resources use.

- one CodeSystem per `systems` entry under the configured base's `/CodeSystem/`: `content:
  complete` with its concepts where a code list declares them (measures, the codes kept out of
  SNOMED CT), else `not-present` (the codes are the sources' own, listed in the data dictionary);
- one StructureDefinition per carebridge extension (`extension_definitions`: context and value type);
- one NamingSystem per identifier system under `/Id/`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from carebridge.core.reference import codes
from fhir_mapping.ndjson import dumps
from fhir_mapping.terminology import terminology

__all__ = ["definitions", "write_definitions"]

_STATUS = "active"


def _name(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def _id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _concepts(key: str) -> list[dict[str, Any]] | None:
    """The concepts a code list declares for a local code system, if any."""
    lists = codes()
    if key == "measure":
        return [{"code": k, "display": m["name"]} for k, m in lists["measures"].items()]
    if key == "local_clinical_code":
        names = {c: v["name"] for c, v in lists["gp_snomed"].items()}
        for measure in lists["measures"].values():
            for code in [*(measure.get("snomed") or []), *(measure.get("items") or [])]:
                names.setdefault(code, measure["name"])
        return [{"code": c, "display": names.get(c)} if names.get(c) else {"code": c} for c in lists["not_snomed"]]
    return None


# What a code system holds, where its name does not say it.
_DESCRIPTIONS = {
    "local_clinical_code": "Codes the sources send as SNOMED CT that fail the SNOMED CT check digit, so are "
                           "no concept ids; kept as sent. No SNOMED CT concept for them could be verified "
                           "(carebridge/core/reference/codes.yaml not_snomed).",
}


def _code_system(key: str, url: str) -> dict[str, Any]:
    concepts = _concepts(key)
    return {"resourceType": "CodeSystem", "id": _id(url), "url": url, "name": _name(key), "status": _STATUS,
            **({"description": _DESCRIPTIONS[key]} if key in _DESCRIPTIONS else {}),
            "publisher": terminology()["definitions"]["publisher"],
            "caseSensitive": True, "content": "complete" if concepts is not None else "not-present",
            **({"count": len(concepts), "concept": concepts} if concepts is not None else {})}


def _extension(key: str, url: str, spec: dict[str, Any]) -> dict[str, Any]:
    value = spec["value"]
    return {
        "resourceType": "StructureDefinition", "id": _id(url), "url": url, "name": _name(key),
        "title": spec["title"], "status": _STATUS, "publisher": terminology()["definitions"]["publisher"],
        "fhirVersion": "4.0.1", "kind": "complex-type",
        "abstract": False, "context": [{"type": "element", "expression": c} for c in spec["context"]],
        "type": "Extension", "baseDefinition": terminology()["extension_base"],
        "derivation": "constraint",
        "differential": {"element": [
            {"id": "Extension", "path": "Extension", "short": spec["title"], "max": "1"},
            {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
            {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
            {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1, "type": [{"code": value}]},
        ]},
    }


def _naming_system(key: str, url: str) -> dict[str, Any]:
    return {"resourceType": "NamingSystem", "id": _id(url.replace("/{source}/{ods}/{table}", "")) or key,
            "name": _name(key), "status": _STATUS, "kind": "identifier", "date": terminology()["definitions"]["date"],
            "publisher": terminology()["definitions"]["publisher"],
            "uniqueId": [{"type": "uri", "value": url, "preferred": True}]}


def definitions() -> list[dict[str, Any]]:
    """Every definition, in a stable order."""
    t = terminology()
    base = t["base"]
    out = [_code_system(k, u) for k, u in sorted(t["systems"].items()) if u.startswith(f"{base}/CodeSystem/")]
    out += [_extension(k, t["extensions"][k], spec) for k, spec in sorted(t["extension_definitions"].items())]
    ids = {k: u for k, u in t["systems"].items() if u.startswith(f"{base}/Id/")}
    out += [_naming_system(k, u) for k, u in sorted(ids.items())]
    out.append({**_naming_system("local_identifier", t["local_identifier"]), "id": "local-record-id",
                "description": "One identifier system per source, provider ODS code and table: "
                               + t["local_identifier"]})
    return out


def write_definitions(out_dir: Path) -> list[Path]:
    """`<out>/fhir/definitions/<Type>-<id>.json`, the folder rewritten whole."""
    folder = Path(out_dir) / "fhir" / "definitions"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for resource in definitions():
        path = folder / f"{resource['resourceType']}-{resource['id']}.json"
        path.write_text(dumps(resource) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
