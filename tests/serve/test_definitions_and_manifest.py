"""`carebridge serve` publishes carebridge's own definitions (read by id, search by url, listed in the
CapabilityStatement), and the pipeline's file manifest describes what the server really answers:
the system-level `$export` of a system client and absolute file URLs (Bulk Data manifest rules)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
import pytest

from fhir_mapping import terminology as terminology_module
from fhir_mapping.ndjson import manifest_files, write_manifest

FHIR_JSON = "application/fhir+json"
KICKOFF = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
DEFINITION_TYPES = ("CodeSystem", "NamingSystem", "StructureDefinition")


def _published(out) -> dict[str, dict]:
    return {f"{r['resourceType']}/{r['id']}": r for r in
            (json.loads(p.read_text()) for p in sorted((out / "fhir" / "definitions").glob("*.json")))}


def test_every_published_definition_is_read_by_id_without_a_token(bulk_server) -> None:
    published = _published(bulk_server.out)
    assert {k.split("/")[0] for k in published} == set(DEFINITION_TYPES)
    with httpx.Client() as http:
        for key, resource in published.items():
            got = http.get(f"{bulk_server.base}/{key}")
            assert got.status_code == 200, key
            assert got.headers["content-type"].startswith(FHIR_JSON)
            assert got.json() == resource
        missing = http.get(f"{bulk_server.base}/CodeSystem/no-such-system")
        assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_definitions_are_searched_by_canonical_url(bulk_server) -> None:
    published = _published(bulk_server.out)
    with httpx.Client() as http:
        for key, resource in published.items():
            rtype = resource["resourceType"]
            if rtype == "NamingSystem":
                value = resource["uniqueId"][0]["value"]
                bundle = http.get(f"{bulk_server.base}/NamingSystem", params={"value": value}).json()
            else:
                bundle = http.get(f"{bulk_server.base}/{rtype}", params={"url": resource["url"]}).json()
            assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset", key
            assert bundle["total"] == 1 and [e["resource"] for e in bundle["entry"]] == [resource], key
            assert bundle["entry"][0]["fullUrl"] == f"{bulk_server.base}/{key}"
        everything = http.get(f"{bulk_server.base}/StructureDefinition").json()
        assert everything["total"] == sum(k.startswith("StructureDefinition/") for k in published) > 0
        none = http.get(f"{bulk_server.base}/CodeSystem", params={"url": "https://elsewhere.example/CodeSystem/x"})
        assert none.json()["total"] == 0 and "entry" not in none.json()
        refused = http.get(f"{bulk_server.base}/CodeSystem", params={"name": "Measure"})
        assert refused.status_code == 400
        cap = http.get(f"{bulk_server.base}/metadata").json()
    listed = {r["type"]: r for r in cap["rest"][0]["resource"]}
    for rtype in DEFINITION_TYPES:
        assert {"read", "search-type"} <= {i["code"] for i in listed[rtype]["interaction"]}, rtype
        assert {"url" if rtype != "NamingSystem" else "value", "_id"} <= {p["name"] for p in listed[rtype]["searchParam"]}
    assert cap["rest"][0]["operation"][0]["definition"].endswith("OperationDefinition/export")


def _check_manifest_rules(manifest: dict) -> None:
    """The Bulk Data IG's manifest: an instant transactionTime, the kick-off `request`, a boolean
    requiresAccessToken, output entries with a type, an absolute URL and a count, an error array."""
    assert datetime.fromisoformat(manifest["transactionTime"].replace("Z", "+00:00")).tzinfo is not None
    assert manifest["request"].startswith(("https://", "http://")) and manifest["request"].endswith("$export")
    assert isinstance(manifest["requiresAccessToken"], bool) and isinstance(manifest["error"], list)
    assert manifest["output"]
    for item in manifest["output"]:
        assert item["url"].startswith(("https://", "http://")), "output URLs must be absolute"
        assert item["url"].endswith(f"/{item['type']}.ndjson") and item["count"] > 0


def test_the_file_manifest_follows_the_bulk_data_rules_under_the_configured_base(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(terminology_module.BASE_ENV, "https://fhir.example-trust.nhs.uk/carebridge")
    terminology_module.terminology.cache_clear()
    try:
        for name in ("Patient", "Goal"):
            (tmp_path / f"{name}.ndjson").write_text('{"id":"a"}\n')
        write_manifest(tmp_path, {"Patient": 1, "Goal": 1, "Condition": 0}, "2026-03-31T00:00:00Z")
    finally:
        monkeypatch.delenv(terminology_module.BASE_ENV)
        terminology_module.terminology.cache_clear()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    _check_manifest_rules(manifest)
    base = "https://fhir.example-trust.nhs.uk/carebridge"
    assert manifest["request"] == f"{base}/$export" and manifest["requiresAccessToken"] is True
    assert [(i["type"], i["url"]) for i in manifest["output"]] == [
        ("Goal", f"{base}/ndjson/Goal.ndjson"), ("Patient", f"{base}/ndjson/Patient.ndjson")]
    assert manifest_files(tmp_path) == {"Goal": (tmp_path / "Goal.ndjson", 1), "Patient": (tmp_path / "Patient.ndjson", 1)}


def test_the_file_manifest_is_what_the_server_answers(bulk_server) -> None:
    """Every URL of the pipeline's manifest, on this server's base, is answered: the files to a system
    client byte for byte, and its `request` (the system-level kick-off) with the same export."""
    folder = bulk_server.out / "fhir" / "ndjson"
    manifest = json.loads((folder / "manifest.json").read_text())
    _check_manifest_rules(manifest)
    configured = terminology_module.terminology()["base"]
    assert manifest["request"] == f"{configured}/$export"
    system, trust = bulk_server.clients["system"], bulk_server.clients["trust"]
    with httpx.Client() as http:
        auth = {"Authorization": f"Bearer {bulk_server.token(http, system)}"}
        for item in manifest["output"]:
            url = bulk_server.base + item["url"][len(configured):]
            assert http.get(url).status_code == 401
            got = http.get(url, headers=auth)
            assert got.status_code == 200 and got.content == (folder / f"{item['type']}.ndjson").read_bytes()
            assert len(got.content.splitlines()) == item["count"]
        trust_auth = {"Authorization": f"Bearer {bulk_server.token(http, trust)}"}
        assert http.get(bulk_server.base + manifest["output"][0]["url"][len(configured):],
                        headers=trust_auth).status_code == 403
        assert http.get(f"{bulk_server.base}/$export", headers={**KICKOFF, **trust_auth}).status_code == 403
        # the system-level kick-off gives the same files as the manifest lists
        kick = http.get(bulk_server.base + manifest["request"][len(configured):], headers={**KICKOFF, **auth})
        assert kick.status_code == 202, kick.text
        deadline = time.monotonic() + 60
        while (status := http.get(kick.headers["Content-Location"], headers=auth)).status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answered = status.json()
        _check_manifest_rules(answered)
        assert answered["transactionTime"] == manifest["transactionTime"]
        assert answered["request"] == f"{bulk_server.base}/$export" and answered["requiresAccessToken"] is True
        assert [(i["type"], i["count"]) for i in answered["output"]] == [(i["type"], i["count"]) for i in manifest["output"]]
        for item in answered["output"]:
            assert http.get(item["url"], headers=auth).content == (folder / f"{item['type']}.ndjson").read_bytes()
        # a system client reads any exported resource; it has no Group
        first = json.loads((folder / f"{manifest['output'][0]['type']}.ndjson").read_text().splitlines()[0])
        assert http.get(f"{bulk_server.base}/{first['resourceType']}/{first['id']}", headers=auth).status_code == 200
        assert http.get(f"{bulk_server.base}/Group/{trust.ods}/$export", headers={**KICKOFF, **auth}).status_code == 403


@pytest.mark.parametrize("entry, message", [({"system": True, "ods": "RZZ"}, "has no `ods`")])
def test_a_system_client_has_no_organisation(tmp_path, entry, message) -> None:
    import yaml
    from joserfc.jwk import ECKey

    from carebridge.serve.clients import RegistryError, load_registry

    key = ECKey.generate_key("P-384").as_dict(private=False)
    path = tmp_path / "clients.yaml"
    path.write_text(yaml.safe_dump({"clients": {"ops": {**entry, "jwks": {"keys": [key]}}}}))
    with pytest.raises(RegistryError, match=message):
        load_registry(path)
    path.write_text(yaml.safe_dump({"clients": {"ops": {"system": True, "jwks": {"keys": [key]}}}}))
    assert load_registry(path)["ops"].ods == "*"
