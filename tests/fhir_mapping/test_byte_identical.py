"""Issue 14 item 5: the fast paths give the bytes of the reference paths, on a generated system with
every fault kind of the generator (record, row, file and demographic faults).

Reference: everything in memory (`map_resources` -> `write_ndjson`; `write_bundles`, which cuts
each logical bundle with `delivery.delivery_parts` over parsed resources). Fast: the batched export
(`write_fhir_export`, shards in worker processes) and the streaming bundle writer
(`write_bundles_from_ndjson`, delivery parts assembled from the NDJSON text by
`delivery_text.delivery_parts_text`). Small transactions force every packing path (several parts per
bundle, Patients repeated across parts, Organizations in parts of their own).
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from carebridge.core.reference import load_reference
from fhir_mapping import care_relationships, map_resources, write_bundles, write_ndjson
from fhir_mapping.bundles import write_bundles_from_ndjson
from fhir_mapping.delivery import delivery_parts
from fhir_mapping.delivery_text import delivery_parts_text, references_in
from fhir_mapping.delivery import references_of
from fhir_mapping.elements import prune
from fhir_mapping.export import write_fhir_export
from fhir_mapping.ndjson import dumps

STAMP = "2026-03-31T09:00:00Z"
MAX_ENTRIES = "7"       # small transactions: several parts per bundle


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    from carebridge.linkage import build_person_index
    from carebridge.staging import stage_landing
    from carebridge.synthetic import generate

    folder = tmp_path_factory.mktemp("every_fault")
    generate(400, folder / "landing", folder / "truth", seed=23, fault_rate=0.2, demographic_faults={"all": 0.05})
    staged = stage_landing(folder / "landing").tables
    return folder, staged, build_person_index(staged), load_reference(folder / "landing")


def test_the_system_has_every_fault_kind(faulty):
    folder = faulty[0]
    with open(folder / "truth" / "faults.csv", encoding="utf-8") as fh:
        logged = {row["kind"] for row in csv.DictReader(fh)}
    declared = yaml.safe_load((Path(__import__("carebridge.synthetic", fromlist=["x"]).__file__).parent
                               / "data" / "faults.yaml").read_text(encoding="utf-8"))
    wanted = {kind for group in ("record", "row", "file") for kind in declared[group]}
    assert wanted <= logged, f"not generated: {sorted(wanted - logged)}"


@pytest.fixture(scope="module")
def reference_output(faulty, tmp_path_factory):
    """NDJSON and bundles of the reference paths."""
    _, staged, index, reference = faulty
    out = tmp_path_factory.mktemp("reference_output")
    result = map_resources(staged, index, reference)
    write_ndjson(result.resources, out, STAMP)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAREBRIDGE_FHIR_MAX_ENTRIES", MAX_ENTRIES)
        write_bundles(result.resources, care_relationships(staged, index), out, STAMP)
    return result, _files(out / "fhir")


@pytest.mark.parametrize("shards, workers", [(1, 1), (4, 2)])
def test_fast_paths_write_the_reference_bytes(faulty, reference_output, tmp_path, monkeypatch, shards, workers):
    monkeypatch.setenv("CAREBRIDGE_FHIR_MAX_ENTRIES", MAX_ENTRIES)
    _, staged, index, reference = faulty
    result, expected = reference_output
    export = write_fhir_export(staged, index, reference, tmp_path, STAMP, shards=shards, workers=workers)
    bundles = write_bundles_from_ndjson(tmp_path / "fhir" / "ndjson", care_relationships(staged, index), tmp_path)
    assert export.unmapped.num_rows > 0 and sum(export.counts.values()) > 1000
    assert len(bundles.paths) > 100
    actual = _files(tmp_path / "fhir")
    assert sorted(actual) == sorted(expected)
    different = [name for name in expected if actual[name] != expected[name]]
    assert not different, f"{len(different)} files differ, e.g. {different[:3]}"


def test_text_delivery_parts_equal_the_dict_delivery_parts(reference_output):
    """Every logical bundle's resources, cut at several transaction sizes, by both functions."""
    import json

    result, expected = reference_output
    by_key = {f"{t}/{r['id']}": r for t, items in result.resources.items() for r in items}
    recipients = sorted({name.split("/")[1] for name in expected if name.startswith("bundles/")})
    patients = sorted(k for k in by_key if k.startswith("Patient/"))
    records = sorted(k for k, r in by_key.items() if "subject" in r or "patient" in r)
    checked = 0
    for i, recipient in enumerate(recipients[:6]):
        keys = set(records[i::7][:60])
        keys |= {ref for k in list(keys) for ref in references_of(by_key[k]) if ref in by_key}
        keys |= set(patients[i:i + 3])          # Patients no record of the bundle reaches, too
        resources = [by_key[k] for k in sorted(keys)]
        triples = [(k, (by_key[k].get("subject") or by_key[k].get("patient") or {}).get("reference", "")
                     .removeprefix("Patient/") if k.split("/")[0] != "Patient" else "", dumps(by_key[k]))
                   for k in sorted(keys)]
        for limit in (2, 5, 50):
            want = [dumps(p) for p in delivery_parts(recipient, "2025-06", resources, STAMP, limit)]
            assert delivery_parts_text(recipient, "2025-06", triples, STAMP, limit) == want
            checked += len(want)
        for k in keys:
            assert sorted(references_in(dumps(by_key[k]))) == sorted(references_of(by_key[k]))
        json.loads(want[0])
    assert checked > 50


# --- prune: the rule every mapper's output goes through -----------------------------------------------

_DROP = object()


def _keep_before(value):
    if isinstance(value, (dict, list)):
        value = _prune_before(value)
        return value if value else _DROP
    return _DROP if value is None or value == "" else value


def _prune_before(value):
    """`elements.prune` as it was before issue 14 (the definition the faster one must equal)."""
    if isinstance(value, dict):
        kept = {k: _keep_before(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not _DROP}
    if isinstance(value, list):
        return [v for v in map(_keep_before, value) if v is not _DROP]
    return value


@pytest.mark.parametrize("value", [
    {"a": None, "b": "", "c": [], "d": {}, "e": [None, "", {}, [], {"x": None}], "f": 0, "g": False, "h": 0.0,
     "i": [{"j": [""]}, {"k": "v"}], "l": {"m": {"n": {"o": None}}}, "p": " ", "q": [0, False, "x"]},
    [None, {"a": [{"b": None}]}, "", "y"],
    "text", None, 3,
])
def test_prune_equals_the_definition_before(value):
    after, before = prune(value), _prune_before(value)
    assert after == before and dumps(after) == dumps(before)


_leaf = st.one_of(st.none(), st.just(""), st.text(max_size=3), st.integers(), st.booleans(),
                 st.floats(allow_nan=False), st.dates())
_json = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=3), inner, max_size=4)),
                     max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_prune_equals_the_definition_before_on_any_json(value):
    assert repr(prune(value)) == repr(_prune_before(value))


def _unpickled(data: bytes):
    return pickle.loads(data)


@settings(max_examples=200, deadline=None)
@given(_json, _json)
def test_prune_of_a_value_holding_shared_elements_equals_the_definition_before(value, element):
    """A shared element (elements.shared) is taken as it is: the result is the definition's."""
    from fhir_mapping.elements import is_shared, shared

    piece = shared(_unpickled, pickle.dumps(element))
    assert is_shared(piece) or not isinstance(piece, (dict, list))
    holder = {"a": piece, "b": [piece, None, value], "c": value}
    assert repr(prune(holder)) == repr(_prune_before(holder))
