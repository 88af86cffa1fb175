"""The compiled validator (JSON Schema from the R4B models, run by jsonschema-rs) is as strict as
`fhir.resources` where it matters, and accepts what the models accept of the mappers' output.

Negative controls run on a real resource of every type the mappers produce (the scenario's
mapping): each fault is made where the resource already has such an element, and also added
through an extension, so every type is tested even when its own data has no date or reference."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fhir_mapping.compiled_validation import period_ordered, validate_compiled
from fhir_mapping.fhir_schema import resource_schema
from fhir_mapping.validation import validate_models, validate_resources

MAPPED_TYPES = {"CarePlan", "Condition", "Encounter", "EpisodeOfCare", "Goal", "HealthcareService", "Observation",
                "Organization", "Patient", "ServiceRequest"}
GOLDEN = Path(__file__).with_name("golden")
_DATETIME_PATTERN = resource_schema("Observation")["$defs"]["Period"]["properties"]["start"]["pattern"]
_DATE_PATTERN = resource_schema("Patient")["$defs"]["Patient"]["properties"]["birthDate"]["pattern"]
_INSTANT_PATTERN = resource_schema("Patient")["$defs"]["Meta"]["properties"]["lastUpdated"]["pattern"]
_EXT = "https://carebridge.dev/fhir/StructureDefinition/negative-control"

Element = tuple[dict | list, Any, dict[str, Any], Any]   # (container, key or index, schema, value)


def _elements(node: dict[str, Any], schema: dict[str, Any], defs: dict[str, Any]) -> Iterator[Element]:
    """Every element present in `node`, depth first, with the schema of its value."""
    for key, value in list(node.items()):
        prop = schema["properties"].get(key)
        if prop is None:
            continue
        item = prop["items"] if prop.get("type") == "array" else prop
        places = [(value, i, v) for i, v in enumerate(value)] if isinstance(value, list) else [(node, key, value)]
        for container, at, v in places:
            yield container, at, item, v
            if "$ref" in item and isinstance(v, dict):
                yield from _elements(v, defs[item["$ref"].rsplit("/", 1)[1]], defs)


def _def(item: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    return defs[item["$ref"].rsplit("/", 1)[1]] if "$ref" in item else None


def _variants(resource: dict[str, Any], pick: Callable[[Element, dict], bool],
              values: list[Any]) -> Iterator[dict[str, Any]]:
    """Copies of `resource` with the first element `pick` selects set to each of `values` (a callable
    value gets the element's value, schema and the `$defs`)."""
    schema = resource_schema(resource["resourceType"])
    for i, (_, _, item, value) in enumerate(_elements(resource, schema, schema["$defs"])):
        if pick((None, None, item, value), schema["$defs"]):
            for new in values:
                broken = copy.deepcopy(resource)
                container, at, _, _ = list(_elements(broken, schema, schema["$defs"]))[i]
                container[at] = new(value, item, schema["$defs"]) if callable(new) else new
                yield broken
            return


def _with_extension(resource: dict[str, Any], **value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(resource)
    broken.setdefault("extension", []).append({"url": _EXT, **value})
    return broken


def _unknown_element(r):
    yield {**copy.deepcopy(r), "madeUpElement": "x"}
    yield from _variants(r, lambda e, d: isinstance(e[3], dict), [lambda v, *_: {**v, "madeUpElement": "x"}])
    yield _with_extension(r, valueString="x", madeUpElement="x")


def _wrong_type(r):
    yield {**copy.deepcopy(r), "id": 123}
    yield from _variants(r, lambda e, d: isinstance(e[3], str), [42, True, ["x"], {"value": "x"}])
    yield from _variants(r, lambda e, d: isinstance(e[3], dict), ["x", 1])
    yield _with_extension(r, valueBoolean="true")
    yield _with_extension(r, valueInteger="12")


def _malformed_date(r):
    yield from _variants(r, lambda e, d: e[2].get("pattern") == _DATE_PATTERN,
                         ["2025-02-30", "2025-13-01", "25-01-01", "2025-01-01T10:00:00Z", "01/02/2025"])
    for bad in ("2025-02-30", "2023-02-29", "2025-13", "2025-1-5", "2025-01-01T00:00:00Z"):
        yield _with_extension(r, valueDate=bad)


def _malformed_datetime(r):
    yield from _variants(r, lambda e, d: e[2].get("pattern") == _DATETIME_PATTERN,
                         ["2025-01-01T10:00:00", "2025-02-29T10:00:00Z", "2025-01-01 10:00:00Z", "2025-01-32"])
    for bad in ("2025-01-01T10:00:00", "2025-01-01T25:00:00Z", "2025-04-31", "2025-01-01T10:00Z", "yesterday"):
        yield _with_extension(r, valueDateTime=bad)
    yield from _variants(r, lambda e, d: e[2].get("pattern") == _INSTANT_PATTERN, ["2025-01-01", "2025-01-01T10:00:00"])
    yield {**copy.deepcopy(r), "meta": {"lastUpdated": "2025-01-01"}}   # an instant needs a time and zone


def _empty_string(r):
    yield from _variants(r, lambda e, d: isinstance(e[3], str), [""])
    yield _with_extension(r, valueString="")
    yield {**copy.deepcopy(r), "id": ""}


def _code_outside_value_set(r):
    yield from _variants(r, lambda e, d: "enum" in e[2], ["not-in-the-value-set", "Finished"])
    yield {**copy.deepcopy(r), "text": {"status": "not-in-the-value-set", "div": "<div>x</div>"}}


def _required(item: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    schema = _def(item, defs) or {}
    return schema.get("required", []) + [c["anyOf"][0]["required"][0] for c in schema.get("allOf", [])]


def _missing_required(r):
    schema = resource_schema(r["resourceType"])
    for key in _required({"$ref": f"#/$defs/{r['resourceType']}"}, schema["$defs"]):
        if key in r:
            yield {k: v for k, v in copy.deepcopy(r).items() if k != key}
    yield from _variants(r, lambda e, d: isinstance(e[3], dict) and any(k in e[3] for k in _required(e[2], d)),
                         [lambda v, item, defs: {k: x for k, x in v.items() if k not in _required(item, defs)}])
    broken = copy.deepcopy(r)
    broken.setdefault("extension", []).append({"valueString": "no url"})
    yield broken


def _bad_id(r):
    for bad in ("has space", "a" * 65, "under_score", "ümlaut", "a/b"):
        yield {**copy.deepcopy(r), "id": bad}


def _broken_reference(r):
    bad = ["Patient/", "Patient/has space", "not a reference", "patient/1", "Patient/" + "a" * 65, "urn:uuid:123"]
    yield from _variants(r, lambda e, d: e[2].get("$ref", "").endswith("/Reference") and "reference" in e[3],
                         [lambda v, *_, b=b: {**v, "reference": b} for b in bad])
    for b in bad:
        yield _with_extension(r, valueReference={"reference": b})


def _period_reversed(r):
    yield from _variants(r, lambda e, d: e[2].get("$ref", "").endswith("/Period") and "start" in e[3],
                         [lambda v, *_: {"start": v["start"], "end": "2000-01-01"}])
    for start, end in (("2025-03-02", "2025-03-01"), ("2025-03", "2025-02-28"),
                       ("2025-03-01T10:00:00Z", "2025-03-01T09:59:59Z"),
                       ("2025-03-01T10:00:00+01:00", "2025-03-01T08:30:00Z")):
        yield _with_extension(r, valuePeriod={"start": start, "end": end})


CONTROLS = {"unknown element": _unknown_element, "wrong type": _wrong_type, "malformed date": _malformed_date,
            "malformed dateTime": _malformed_datetime, "empty string": _empty_string,
            "code outside a required value set": _code_outside_value_set,
            "missing required element": _missing_required, "bad id": _bad_id,
            "broken reference": _broken_reference, "period ending before it starts": _period_reversed}


def _samples(result) -> dict[str, list[dict[str, Any]]]:
    """Up to three real resources of each mapped type (the scenario's mapping and the golden files)."""
    golden = [r for f in sorted(GOLDEN.glob("*.json")) for r in json.loads(f.read_text())["resources"]]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in [r for items in result.resources.values() for r in items] + golden:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    return {rtype: items[:2] + items[-1:] for rtype, items in by_type.items()}


def test_the_scenario_maps_every_resource_type(result):
    assert set(_samples(result)) == MAPPED_TYPES


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_every_negative_control_is_caught_on_every_resource_type(control, result):
    missed, tried = [], {}
    for rtype, samples in sorted(_samples(result).items()):
        broken = [b for sample in samples for b in CONTROLS[control](sample)]
        tried[rtype] = len(broken)
        missed += [(rtype, json.dumps(b)[:300]) for b in broken if not validate_compiled([b])]
    assert all(tried.values()), tried
    assert missed == [], missed[:3]


def test_what_the_models_refuse_the_compiled_validator_refuses_too(result):
    """Every negative control the fhir.resources models catch is caught by the compiled validator."""
    broken = [b for samples in _samples(result).values() for sample in samples[:1]
              for control in CONTROLS.values() for b in control(sample)]
    by_models = {i for i, b in enumerate(broken) if validate_models([b])}
    by_compiled = {i for i, b in enumerate(broken) if validate_compiled([b])}
    assert len(by_models) > len(broken) // 2      # the controls are real faults for the models too
    assert by_models <= by_compiled


def test_the_failure_names_the_resource_and_the_element(result):
    encounter = copy.deepcopy(result.resources["Encounter"][0])
    encounter["period"] = {"start": "2025-03-02", "end": "2025-03-01"}
    (failure,) = validate_compiled([encounter])
    assert failure["resource_type"] == "Encounter" and failure["id"] == encounter["id"]
    assert "period" in failure["error"] and "before its start" in failure["error"]


def test_every_scenario_and_golden_resource_is_valid_for_both_validators(result):
    resources = [r for items in result.resources.values() for r in items]
    resources += [r for f in sorted(GOLDEN.glob("*.json")) for r in json.loads(f.read_text())["resources"]]
    assert validate_models(resources) == []
    assert validate_compiled(resources) == []


def test_every_resource_of_a_generated_system_is_valid_for_both_validators(duckdb_run):
    """The run's own check used the compiled validator; the models agree on every resource."""
    folder = duckdb_run.out / "fhir" / "ndjson"
    resources = [json.loads(line) for f in sorted(folder.glob("*.ndjson")) for line in f.read_text().splitlines()]
    assert {r["resourceType"] for r in resources} >= MAPPED_TYPES - {"Condition"}
    assert validate_compiled(resources) == []
    assert validate_models(resources) == []


def test_strict_validates_with_the_models_and_reports_the_same_shape(result):
    broken = {t: [copy.deepcopy(r) for r in items] for t, items in result.resources.items()}  # resources share elements
    del broken["Encounter"][0]["class"]
    compiled = validate_resources(broken, workers=1)
    strict = validate_resources(broken, workers=1, strict=True)
    assert [(f["resource_type"], f["id"]) for f in compiled.failures] == \
        [(f["resource_type"], f["id"]) for f in strict.failures] == [("Encounter", broken["Encounter"][0]["id"])]
    assert compiled.checked == strict.checked
    assert "class" in strict.failures[0]["error"] and "class" in compiled.failures[0]["error"]


def test_resources_inside_a_bundle_are_validated_against_their_own_type(result):
    patient = copy.deepcopy(result.resources["Patient"][0])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    assert validate_compiled([bundle]) == []
    patient["birthDate"] = "2025-02-30"
    assert "birthDate" in validate_compiled([bundle])[0]["error"]


@pytest.mark.parametrize(("start", "end", "ordered"), [
    ("2025-01-01", "2025-01-01", True), ("2025-01-02", "2025-01-01", False), ("2025-01", "2025-01-15", True),
    ("2025-01-15", "2025-01", True), ("2025-02-01", "2025-01", False), ("2025", "2024-12-31", False),
    ("2025-01-01T10:00:00Z", "2025-01-01", True), ("2025-01-01T10:00:00+01:00", "2025-01-01T09:30:00Z", True),
    ("2025-01-01T10:00:00+01:00", "2025-01-01T08:30:00Z", False), ("2025-12", "2025", True),
    ("2025-01-01T10:00:00.5Z", "2025-01-01T10:00:00Z", False)])
def test_period_order_at_any_precision(start, end, ordered):
    assert period_ordered(start, end) is ordered


def test_an_unknown_resource_type_is_a_failure_not_an_error():
    (failure,) = validate_compiled([{"resourceType": "Nonsense", "id": "x"}])
    assert failure["resource_type"] == "Nonsense" and "not a" in failure["error"]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_export_validates_compiled_by_default_and_with_the_models_when_strict(staged, index, reference, tmp_path,
                                                                                   workers):
    from fhir_mapping.export import write_fhir_export

    runs = {strict: write_fhir_export(staged, index, reference, tmp_path / str(strict), "2025-03-31T00:00:00Z",
                                      shards=2, workers=workers, strict=strict) for strict in (False, True)}
    assert runs[False].validation == runs[True].validation
    assert runs[False].validation.checked == sum(runs[False].counts.values()) and runs[False].validation.ok
    for name in runs[False].counts:
        assert (tmp_path / "False" / "fhir" / "ndjson" / f"{name}.ndjson").read_bytes() == \
            (tmp_path / "True" / "fhir" / "ndjson" / f"{name}.ndjson").read_bytes()


def test_strict_reaches_the_pipeline_resource_from_the_cli_and_the_environment(tmp_path, monkeypatch):
    from carebridge.cli import _parser
    from carebridge.runner import _resource
    from pipelines.resources import resource_from_env

    assert _parser().parse_args(["run", "--landing", "l", "--out", "o", "--strict"]).strict
    assert _parser().parse_args(["demo", "--strict"]).strict
    assert not _parser().parse_args(["run", "--landing", "l", "--out", "o"]).strict
    assert _resource(tmp_path, tmp_path, "", None, strict=True).strict_validation
    assert not _resource(tmp_path, tmp_path, "", None).strict_validation
    monkeypatch.setenv("CAREBRIDGE_STRICT_VALIDATION", "1")
    assert resource_from_env().strict_validation
    monkeypatch.setenv("CAREBRIDGE_STRICT_VALIDATION", "0")
    assert not resource_from_env().strict_validation
