"""FHIR Bulk Data export layout: `fhir/ndjson/<Type>.ndjson` and `manifest.json`.

`manifest.json` is the Bulk Data manifest of the whole export, as `carebridge serve` answers it at
the configured base URL (`CAREBRIDGE_FHIR_BASE`): `request` is the system-level kick-off
(`[base]/$export`, for a system client), each `output[].url` the absolute URL where the server
hands out that file to such a client (`[base]/ndjson/<Type>.ndjson`, token required). Code that
reads the files from disk takes the file names from the URLs (`manifest_parts`): one
`<Type>.ndjson`, or, from a partitioned (Spark) export, the parts `<Type>.<part>.ndjson`.

Each type's file is in id order. `write_ndjson` writes resources held in memory; the batched
export writes each shard's resources as a sorted *part* (`write_part`) and merges the parts of a
type into its file (`merge_parts`), streaming, so both give the same bytes.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from carebridge.core.layout import OutputLayout
from fhir_mapping.terminology import terminology

__all__ = ["write_ndjson", "read_ndjson", "dumps", "ndjson_folder", "write_part", "merge_parts", "write_manifest",
           "manifest_files", "manifest_parts", "write_parts_manifest", "type_lines"]


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


def manifest_parts(folder: Path) -> dict[str, tuple[tuple[Path, ...], int]]:
    """Type -> (its files beside the manifest, in manifest order, and their total count): one
    `<Type>.ndjson`, or the parts `<Type>.<part>.ndjson` a partitioned (Spark) export writes. Every
    reader of an export (views loader, bundle writer, `carebridge serve`) takes its files from here."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files: dict[str, tuple[tuple[Path, ...], int]] = {}
    for item in manifest["output"]:
        rtype, name = item["type"], str(item["url"]).rsplit("/", 1)[-1]
        if name != f"{rtype}.ndjson" and not (name.startswith(f"{rtype}.") and name.endswith(".ndjson")
                                               and "/" not in name and name.count(".") == 2):
            raise ValueError(f"{folder / 'manifest.json'}: unexpected file {item['url']!r} for {rtype}")
        paths, count = files.get(rtype, ((), 0))
        files[rtype] = (paths + (folder / name,), count + int(item["count"]))
    return files


def manifest_files(folder: Path) -> dict[str, tuple[Path, int]]:
    """Type -> (its one file beside the manifest, count), for an export of one file per type
    (a partitioned export is an error here: read it with `manifest_parts`)."""
    files = {}
    for rtype, (paths, count) in manifest_parts(folder).items():
        if len(paths) != 1:
            raise ValueError(f"{Path(folder) / 'manifest.json'}: {rtype} is in {len(paths)} parts (see manifest_parts)")
        files[rtype] = (paths[0], count)
    return files


def write_parts_manifest(folder: Path, parts: list[tuple[str, str, int]], transaction_time: str) -> Path:
    """The manifest of a partitioned export: every part as (type, file name, count), each listed
    as `write_manifest` lists a type's one file."""
    t = terminology()
    output = [{"type": rtype, "url": f"{t['bulk_files']}/{name}", "count": n} for rtype, name, n in sorted(parts) if n]
    manifest = {"transactionTime": transaction_time, "request": t["bulk_request"],
                "requiresAccessToken": True, "output": output, "error": []}
    path = Path(folder) / "manifest.json"
    path.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return path


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


def _line_id(line: str) -> str:
    return json.loads(line)["id"]


def type_lines(paths: Sequence[Path]) -> Iterator[str]:
    """The non-blank lines (without newline) of one type's files in id order: its one file as it
    is, or the parts of a partitioned export (each in id order) merged, one line of each at a time."""
    with ExitStack() as stack:
        streams = [(line.rstrip("\n") for line in stack.enter_context(open(p, encoding="utf-8", newline="\n"))
                    if line.strip()) for p in paths]
        yield from streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_line_id)


def read_ndjson(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Read back an export written by `write_ndjson` (the files its manifest lists)."""
    resources: dict[str, list[dict[str, Any]]] = {}
    for rtype, (paths, _) in manifest_parts(folder).items():
        resources[rtype] = [json.loads(line) for line in type_lines(paths)]
    return resources
