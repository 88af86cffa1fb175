"""The Bulk Data Access server, driven over HTTP by httpx the way the IG describes a client
(SMART's `bulk-data-client` is not published on npm, so the IG's flow is followed by hand):
token, kick-off, status polling, download; refusals; `_since` and `_type`."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from carebridge.serve.store import bundle_keys
from warehouse.db import read_table

FHIR_JSON = "application/fhir+json"
KICKOFF_HEADERS = {"Accept": FHIR_JSON, "Prefer": "respond-async"}


def _ndjson_lines(out: Path) -> dict[str, bytes]:
    """`Type/id` -> line of the pipeline's NDJSON export."""
    lines = {}
    for path in (out / "fhir" / "ndjson").glob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            if line.strip():
                lines[f"{path.stem}/{json.loads(line)['id']}"] = line
    return lines


def _bundle_months(out: Path, ods: str) -> dict[str, str]:
    """`Type/id` -> first month a bundle carried it to `ods` (what the organisation was sent), for
    resources of the NDJSON export."""
    exported = _ndjson_lines(out)
    folder = out / "fhir" / "bundles" / ods
    first: dict[str, str] = {}
    for path in sorted(folder.rglob("*.json")):
        month = re.search(r"\d{4}-\d{2}", path.relative_to(folder).as_posix()).group(0)
        for key in bundle_keys(json.loads(path.read_text())):
            if key in exported:
                first[key] = min(first.get(key, month), month)
    return first


def export(server, http: httpx.Client, token: str, ods: str, params: dict[str, str] | None = None,
           seen_progress: list[str] | None = None) -> tuple[dict, dict[str, list[bytes]]]:
    """Kick off, poll and download a group export; (manifest, type -> NDJSON lines)."""
    auth = {"Authorization": f"Bearer {token}"}
    kick = http.get(f"{server.base}/Group/{ods}/$export", params=params or {}, headers={**KICKOFF_HEADERS, **auth})
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["Content-Location"]
    assert status_url.startswith(f"{server.base}/")
    deadline = time.monotonic() + 60
    while True:
        status = http.get(status_url, headers=auth)
        if status.status_code == 200:
            break
        assert status.status_code == 202, status.text
        assert status.headers["X-Progress"]
        if seen_progress is not None:
            seen_progress.append(status.headers["X-Progress"])
        assert time.monotonic() < deadline, "export did not finish"
        time.sleep(0.05)
    manifest = status.json()
    files: dict[str, list[bytes]] = {}
    for item in manifest["output"]:
        assert item["url"].startswith(f"{server.base}/"), "output URLs must be absolute"
        assert http.get(item["url"]).status_code == 401, "a file must not be served without a token"
        got = http.get(item["url"], headers={**auth, "Accept": "application/fhir+ndjson"})
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("application/fhir+ndjson")
        files[item["type"]] = got.content.splitlines()
        assert len(files[item["type"]]) == item["count"]
    return manifest, files


def test_metadata_and_smart_configuration(bulk_server) -> None:
    with httpx.Client() as http:
        cap = http.get(f"{bulk_server.base}/metadata").json()
        config = http.get(f"{bulk_server.base}/.well-known/smart-configuration").json()
    assert cap["resourceType"] == "CapabilityStatement"
    assert "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data" in cap["instantiates"]
    group = next(r for r in cap["rest"][0]["resource"] if r["type"] == "Group")
    assert group["operation"][0]["definition"].endswith("OperationDefinition/group-export")
    oauth = cap["rest"][0]["security"]["extension"][0]["extension"]
    assert {"url": "token", "valueUri": f"{bulk_server.base}/token"} in oauth
    assert config["token_endpoint"] == f"{bulk_server.base}/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}


@pytest.mark.parametrize("who", ["trust", "practice"])
def test_group_export_is_exactly_what_the_organisation_was_sent(bulk_server, who, helpers, tmp_path,
                                                                 duckdb_run, record_property) -> None:
    client = bulk_server.clients[who]
    with httpx.Client() as http:
        token = bulk_server.token(http, client)
        manifest, files = export(bulk_server, http, token, client.ods)
    file_manifest = json.loads((bulk_server.out / "fhir" / "ndjson" / "manifest.json").read_text())
    assert manifest["transactionTime"] == file_manifest["transactionTime"]
    assert manifest["request"] == f"{bulk_server.base}/Group/{client.ods}/$export"
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert len({item["type"] for item in manifest["output"]}) == len(manifest["output"])

    everything = _ndjson_lines(bulk_server.out)
    got = {f"{rtype}/{json.loads(line)['id']}": line for rtype, lines in files.items() for line in lines}
    assert sum(len(v) for v in files.values()) == len(got), "a resource was exported twice"
    assert all(everything[key] == line for key, line in got.items()), "exported resources must equal the NDJSON"
    assert set(got) == set(_bundle_months(bulk_server.out, client.ods)), "not what its bundles carried"

    # The group rule, checked independently of the bundles: people it has a care relationship with,
    # their records held by other organisations, and what those reference.
    with helpers.duckdb_copy(duckdb_run, tmp_path) as engine:
        relationships = read_table(engine, "fhir", "care_relationship").to_pylist()
    cared_for = {r["person_id"] for r in relationships if r["ods"] == client.ods}
    resources = {key: json.loads(line) for key, line in got.items()}
    patients = {key.split("/", 1)[1] for key in got if key.startswith("Patient/")}
    assert patients and patients <= cared_for
    seeds = []
    for key, resource in resources.items():
        subject = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
        if subject.startswith("Patient/"):
            assert subject.split("/", 1)[1] in patients, key
            if not resource["meta"]["tag"][0]["code"].endswith(f"|{client.ods}"):
                seeds.append(key)
    assert all(ref in got for r in resources.values() for ref in _references(r)), "a reference does not resolve"
    # everything else (Patients, Organizations, its own records) comes only as what those records refer to
    reached, todo = set(seeds), list(seeds)
    while todo:
        for ref in _references(resources[todo.pop()]):
            if ref not in reached:
                reached.add(ref)
                todo.append(ref)
    assert reached == set(got)
    record_property(f"figure: bulk export resources for the {who}", len(got))


def _references(value) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_another_organisations_group_and_resources_are_refused(bulk_server) -> None:
    trust, practice = bulk_server.clients["trust"], bulk_server.clients["practice"]
    with httpx.Client() as http:
        token = bulk_server.token(http, trust)
        auth = {"Authorization": f"Bearer {token}"}
        refused = http.get(f"{bulk_server.base}/Group/{practice.ods}/$export", headers={**KICKOFF_HEADERS, **auth})
        assert refused.status_code == 403
        assert refused.json()["issue"][0]["code"] == "forbidden"
        assert http.get(f"{bulk_server.base}/Group/{practice.ods}", headers=auth).status_code == 403
        # the trust's own job is invisible to the practice's client
        kick = http.get(f"{bulk_server.base}/Group/{trust.ods}/$export", headers={**KICKOFF_HEADERS, **auth})
        other = {"Authorization": f"Bearer {bulk_server.token(http, practice)}"}
        assert http.get(kick.headers["Content-Location"], headers=other).status_code == 404
        # a resource sent to the practice but not to the trust cannot be read by the trust
        only_practice = sorted(set(_bundle_months(bulk_server.out, practice.ods))
                               - set(_bundle_months(bulk_server.out, trust.ods)))
        assert only_practice
        assert http.get(f"{bulk_server.base}/{only_practice[0]}", headers=auth).status_code == 404
        assert http.get(f"{bulk_server.base}/{only_practice[0]}", headers=other).status_code == 200


def test_token_requests_are_checked(bulk_server) -> None:
    trust = bulk_server.clients["trust"]
    with httpx.Client() as http:
        no_token = http.get(f"{bulk_server.base}/Group/{trust.ods}/$export", headers=KICKOFF_HEADERS)
        assert no_token.status_code == 401 and "Bearer" in no_token.headers["WWW-Authenticate"]
        bad_token = http.get(f"{bulk_server.base}/Group/{trust.ods}/$export",
                             headers={**KICKOFF_HEADERS, "Authorization": "Bearer not-a-token"})
        assert bad_token.status_code == 401

        def refused(assertion: str, scope: str = "system/*.read", error: str = "invalid_client") -> None:
            response = bulk_server.token_request(http, assertion, scope)
            assert response.status_code in (400, 401), response.text
            assert response.json()["error"] == error, response.text
            assert "access_token" not in response.json()

        refused(bulk_server.assertion(trust, exp_in=-120))                     # expired
        refused(bulk_server.assertion(trust, exp_in=3600))                     # exp more than 5 minutes away
        refused(bulk_server.assertion(trust, aud="https://elsewhere.example/token"))  # not for this server
        refused(bulk_server.assertion(bulk_server.stranger))                   # signed by a key not registered
        refused(bulk_server.assertion(trust, key=bulk_server.clients["practice"].key, alg="ES384"))  # another client's key
        refused(bulk_server.assertion(trust), scope="user/*.read", error="invalid_scope")
        refused("not.a.jwt")
        once = bulk_server.assertion(trust, jti="replay-me")
        assert bulk_server.token_request(http, once).status_code == 200
        refused(once)                                                          # replayed
        # SMART v2 scope spelling works too; the token is bound to the client's organisation
        granted = bulk_server.token_request(http, bulk_server.assertion(trust), scope="system/*.rs").json()
        assert granted["token_type"] == "bearer" and granted["expires_in"] <= 300 and granted["scope"] == "system/*.rs"


def test_since_and_type_filter(bulk_server) -> None:
    trust = bulk_server.clients["trust"]
    first = _bundle_months(bulk_server.out, trust.ods)
    months = sorted(set(first.values()))
    middle = months[len(months) // 2]
    with httpx.Client() as http:
        token = bulk_server.token(http, trust)
        _, typed = export(bulk_server, http, token, trust.ods, {"_type": "Patient,Observation"})
        assert set(typed) <= {"Patient", "Observation"} and typed.get("Patient")
        _, full = export(bulk_server, http, token, trust.ods)
        assert {t: full[t] for t in typed} == typed
        _, since = export(bulk_server, http, token, trust.ods, {"_since": f"{middle}-15T12:00:00Z"})
        got = {f"{t}/{json.loads(line)['id']}" for t, lines in since.items() for line in lines}
        assert got == {key for key, month in first.items() if month >= middle}
        assert 0 < len(got) < sum(len(v) for v in full.values())
        manifest, nothing = export(bulk_server, http, token, trust.ods, {"_since": "2099-01-01T00:00:00+01:00"})
        assert nothing == {} and manifest["output"] == []
        auth = {**KICKOFF_HEADERS, "Authorization": f"Bearer {token}"}
        for bad in ({"_since": "2025-13-01"}, {"_since": "2025-06-01"}, {"_type": "Medication"},
                    {"_outputFormat": "text/csv"}, {"_elements": "id"}):
            response = http.get(f"{bulk_server.base}/Group/{trust.ods}/$export", params=bad, headers=auth)
            assert response.status_code == 400, bad
            assert response.json()["resourceType"] == "OperationOutcome"
        no_prefer = http.get(f"{bulk_server.base}/Group/{trust.ods}/$export",
                             headers={"Authorization": f"Bearer {token}", "Accept": FHIR_JSON})
        assert no_prefer.status_code == 400


def test_delete_cancels_and_removes_the_export(bulk_server) -> None:
    trust = bulk_server.clients["trust"]
    with httpx.Client() as http:
        auth = {"Authorization": f"Bearer {bulk_server.token(http, trust)}"}
        manifest, _ = export(bulk_server, http, auth["Authorization"][7:], trust.ods)
        status_url = manifest["output"][0]["url"].rsplit("/", 1)[0]
        assert http.delete(status_url, headers=auth).status_code == 202
        assert http.get(status_url, headers=auth).status_code == 404
        assert http.get(manifest["output"][0]["url"], headers=auth).status_code == 404


def test_read_and_group(bulk_server) -> None:
    trust = bulk_server.clients["trust"]
    everything = _ndjson_lines(bulk_server.out)
    sent = _bundle_months(bulk_server.out, trust.ods)
    with httpx.Client() as http:
        auth = {"Authorization": f"Bearer {bulk_server.token(http, trust)}"}
        patient = sorted(k for k in sent if k.startswith("Patient/"))[0]
        read = http.get(f"{bulk_server.base}/{patient}", headers=auth)
        assert read.status_code == 200 and read.content == everything[patient]
        assert http.get(f"{bulk_server.base}/{patient}").status_code == 401
        group = http.get(f"{bulk_server.base}/Group/{trust.ods}", headers=auth).json()
    assert group["resourceType"] == "Group" and group["actual"] is True
    assert {m["entity"]["reference"] for m in group["member"]} == {k for k in sent if k.startswith("Patient/")}
