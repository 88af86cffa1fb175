"""FHIR Bulk Data export layout: `fhir/ndjson/<Type>.ndjson` and `manifest.json`.

`manifest.json` is the Bulk Data manifest of the whole export, as `carebridge serve` answers it at
the configured base URL (`CAREBRIDGE_FHIR_BASE`): `request` is the system-level kick-off
(`[base]/$export`, for a system client), each `output[].url` the absolute URL where the server
hands out that file to such a client (`[base]/ndjson/<Type>.ndjson`, token required). Code that
reads the files from disk takes the file name from the URL (`manifest_files`).

Each type's file is in id order. `write_ndjson` writes resources held in memory; the batched
export writes each shard's resources as a sorted *part* (`write_part`) and merges the parts of a
type into its file (`merge_parts`), streaming, so both give the same bytes.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from carebridge.core.layout import OutputLayout
from fhir_mapping.terminology import terminology

__all__ = ["write_ndjson", "read_ndjson", "dumps", "ndjson_folder", "write_part", "merge_parts", "write_manifest",
           "manifest_files"]


def dumps(resource: dict[str, Any]) -> str:
    """The canonical JSON of a resource: compact, keys sorted, so equal resources give equal bytes."""
    return json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ndjson_folder(out_dir: Path) -> Path:
    """`<out>/fhir/ndjson`, created, without the files of an earlier export (so the folder is
    exactly this run's export)."""
    folder = OutputLayout(Path(out_dir)).fhir_ndjson
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.ndjson"):
        stale.unlink()
    return folder


def write_manifest(folder: Path, counts: dict[str, int], transaction_time: str) -> Path:
    """The Bulk Data manifest listing each type with resources; returns its path."""
    t = terminology()
    output = [{"type": rtype, "url": f"{t['bulk_files']}/{rtype}.ndjson", "count": n}
              for rtype, n in sorted(counts.items()) if n]
    manifest = {"transactionTime": transaction_time, "request": t["bulk_request"],
                "requiresAccessToken": True, "output": output, "error": []}
    path = Path(folder) / "manifest.json"
    path.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return path


def manifest_files(folder: Path) -> dict[str, tuple[Path, int]]:
    """Type -> (its file beside the manifest, count): the last segment of each output URL."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = {}
    for item in manifest["output"]:
        name = str(item["url"]).rsplit("/", 1)[-1]
        if name != f"{item['type']}.ndjson":
            raise ValueError(f"{folder / 'manifest.json'}: unexpected file {item['url']!r} for {item['type']}")
        files[item["type"]] = (folder / name, item["count"])
    return files


def _write_type(path: Path, resources: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for resource in resources:
            fh.write(dumps(resource))
            fh.write("\n")


def write_ndjson(resources: dict[str, list[dict[str, Any]]], out_dir: Path, transaction_time: str) -> Path:
    """Write one NDJSON file per resource type (resources in id order) and the manifest; returns
    the manifest's path. Files of types no longer produced are removed."""
    folder = ndjson_folder(out_dir)
    for rtype, items in resources.items():
        if items:
            _write_type(folder / f"{rtype}.ndjson", items)
    return write_manifest(folder, {rtype: len(items) for rtype, items in resources.items()}, transaction_time)


# A part line is `<id>\t<canonical JSON>`: ids hold no tab, and JSON escapes the ones in strings.
def write_part(resources: Iterable[dict[str, Any]], path: Path) -> int:
    """Write resources of one type, sorted by id, as a part file; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for resource in sorted(resources, key=lambda r: r["id"]):
            fh.write(f"{resource['id']}\t{dumps(resource)}\n")
            n += 1
    return n


def _part_id(line: str) -> str:
    return line[:line.index("\t")]


def merge_parts(parts: list[Path], path: Path, watch: frozenset[str] = frozenset()) -> tuple[int, set[str]]:
    """Merge sorted part files into one NDJSON file in id order (each part read once, one line at
    a time); returns the number of resources and which of the ids in `watch` were written."""
    n, found = 0, set()
    with ExitStack() as stack, open(path, "w", encoding="utf-8", newline="\n") as out:
        streams = [stack.enter_context(open(p, encoding="utf-8", newline="\n")) for p in parts]
        for line in heapq.merge(*streams, key=_part_id):
            tab = line.index("\t")
            if watch and line[:tab] in watch:
                found.add(line[:tab])
            out.write(line[tab + 1:])
            n += 1
    return n, found


def read_ndjson(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Read back an export written by `write_ndjson` (the files its manifest lists)."""
    resources: dict[str, list[dict[str, Any]]] = {}
    for rtype, (path, _) in manifest_files(folder).items():
        with open(path, encoding="utf-8") as fh:
            resources[rtype] = [json.loads(line) for line in fh if line.strip()]
    return resources
