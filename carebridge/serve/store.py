"""What the Bulk Data server serves, read once from a pipeline's output folder.

Group membership is not decided here: an organisation's group holds exactly the resources the
pipeline already disclosed to it in its bundles (`fhir/bundles/<ODS>/**/*.json`, written by
`fhir_mapping.bundles` from the care relationships and logged in `audit.disclosure_log`).
So the pull API discloses nothing the push does not, and the care-relationship rule lives in one
place. Only which resources (`Type/id`) and the first month each was sent are taken from the
bundles; the resources themselves are served from the NDJSON export (`fhir/ndjson/`), byte for
byte, so a bundle's transport details (conditional references, retraction entries, parts) do not
leak into the bulk files.

`_since`: carebridge keeps no per-resource `meta.lastUpdated`; the unit of change is the monthly
bundle. A resource counts as changed in the month of the first bundle that carried it to the
organisation, so `_since=T` returns what the bundles of T's month and later first carried (the IG
allows a server to return more than what changed after T, never less).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carebridge.serve.clients import SYSTEM
from fhir_mapping.ndjson import manifest_parts

__all__ = ["Served", "load_served", "bundle_keys", "load_definitions", "DEFINITION_TYPES"]

# The conformance resources `fhir_mapping.definitions` publishes in `<out>/fhir/definitions/`.
DEFINITION_TYPES = ("CodeSystem", "NamingSystem", "StructureDefinition")

_MONTH = re.compile(r"(\d{4}-\d{2})")
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")


@dataclass(frozen=True)
class Served:
    """The export of one pipeline run, indexed for the server."""

    ndjson: Path                                     # <out>/fhir/ndjson
    transaction_time: str                            # the file manifest's transactionTime
    types: tuple[str, ...]                           # resource types in the export, by name
    offsets: dict[str, tuple[str, int]]              # "Type/id" -> (file name, byte offset of its line)
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # ODS -> {"Type/id": first month sent}
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Type/id" -> definition resource
    files: dict[str, tuple[str, ...]] = field(default_factory=dict)  # type -> its file names (parts if partitioned)

    def line(self, key: str) -> bytes | None:
        """The NDJSON line (without newline) of one resource, or None."""
        where = self.offsets.get(key)
        if where is None:
            return None
        with open(self.ndjson / where[0], "rb") as fh:
            fh.seek(where[1])
            return fh.readline().rstrip(b"\n")

    def definitions_of(self, rtype: str, criteria: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The definitions of one type, in id order, matching every search criterion given: `url`
        (the canonical URL of a CodeSystem or StructureDefinition), `value` (a NamingSystem's
        uniqueId) or `_id`."""
        def matches(r: dict[str, Any], name: str, wanted: str) -> bool:
            if name == "value":
                return any(u.get("value") == wanted for u in r.get("uniqueId", []))
            return r.get("id" if name == "_id" else name) == wanted

        found = [r for key, r in sorted(self.definitions.items()) if key.split("/", 1)[0] == rtype]
        return [r for r in found if all(matches(r, n, v) for n, v in (criteria or {}).items())]

    def members(self, ods: str, since_month: str | None = None) -> set[str]:
        """`Type/id` of the group's resources, those first sent in `since_month` or later if given."""
        if ods == SYSTEM:  # everything exported, a resource dated by the first month any bundle carried it
            first: dict[str, str] = {}
            for sent in self.groups.values():
                for key, month in sent.items():
                    first[key] = min(first.get(key, month), month)
            return {key for key in self.offsets if since_month is None or first.get(key, since_month) >= since_month}
        sent = self.groups.get(ods, {})
        return {key for key, month in sent.items() if since_month is None or month >= since_month}


def bundle_keys(bundle: dict[str, Any]) -> list[str]:
    """`Type/id` of every resource an entry of a bundle carries (entries without one, such as a
    conditional DELETE, carry none). The id is the resource's own, or, for a resource sent without
    one (a conditional update may leave it out), the last segment of the entry's `fullUrl`
    (`.../Type/id` or `urn:uuid:id`)."""
    keys = []
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not resource.get("resourceType"):
            continue
        rid = resource.get("id") or str(entry.get("fullUrl", "")).rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        if rid:
            keys.append(f"{resource['resourceType']}/{rid}")
    return keys


def _groups(bundles: Path) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    if not bundles.is_dir():
        return groups
    for org in sorted(p for p in bundles.iterdir() if p.is_dir() and _ODS.match(p.name)):
        sent: dict[str, str] = {}
        for path in sorted(org.rglob("*.json")):
            month = _MONTH.search(path.relative_to(org).as_posix())
            bundle = json.loads(path.read_text(encoding="utf-8"))
            if month is None or bundle.get("resourceType") != "Bundle":
                continue
            for key in bundle_keys(bundle):
                if key not in sent or month.group(1) < sent[key]:
                    sent[key] = month.group(1)
        groups[org.name] = sent
    return groups


def _offsets(folder: Path, files: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, int]]:
    """`Type/id` -> (file name, byte offset of its line) over every NDJSON file the manifest lists
    (each line parsed once)."""
    offsets: dict[str, tuple[str, int]] = {}
    for rtype, names in files.items():
        for name in names:
            with open(folder / name, "rb") as fh:
                position = 0
                for line in fh:
                    if line.strip():
                        offsets[f"{rtype}/{json.loads(line)['id']}"] = (name, position)
                    position += len(line)
    return offsets


def load_definitions(folder: Path) -> dict[str, dict[str, Any]]:
    """`Type/id` -> resource, for every `<Type>-<id>.json` of `folder` (written by
    `fhir_mapping.definitions.write_definitions`); empty when the folder does not exist."""
    found: dict[str, dict[str, Any]] = {}
    if not Path(folder).is_dir():
        return found
    for path in sorted(Path(folder).glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if rtype not in DEFINITION_TYPES or not rid or path.name != f"{rtype}-{rid}.json":
            raise ValueError(f"{path}: not a definition written by carebridge ({rtype}/{rid})")
        found[f"{rtype}/{rid}"] = resource
    return found


def load_served(out_dir: Path) -> Served:
    """Index `<out>/fhir/ndjson` (its manifest's files) and `<out>/fhir/bundles`; a clear error if
    the folder holds no export."""
    folder = Path(out_dir) / "fhir" / "ndjson"
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} not found: run the pipeline into {out_dir} first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = {rtype: tuple(p.name for p in paths) for rtype, (paths, _) in sorted(manifest_parts(folder).items())}
    types = tuple(files)
    offsets = _offsets(folder, files)
    # Only what the NDJSON export holds: anything a bundle carries beyond it is transport (e.g. the
    # Provenance of a retraction), not an exported resource.
    groups = {ods: {key: month for key, month in sent.items() if key in offsets}
              for ods, sent in _groups(Path(out_dir) / "fhir" / "bundles").items()}
    return Served(ndjson=folder, transaction_time=manifest["transactionTime"], types=types, offsets=offsets,
                  groups=groups, definitions=load_definitions(Path(out_dir) / "fhir" / "definitions"), files=files)
