"""Every URL in the resources comes from terminology.yaml; no URL literal lives in the Python code."""

from __future__ import annotations

import re
from pathlib import Path

from fhir_mapping.terminology import terminology

PACKAGE = Path(__file__).resolve().parents[2] / "fhir_mapping"


def _urls(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("system", "url") and isinstance(item, str):
                found.add(item)
            elif key == "profile":
                found.update(item)
            else:
                _urls(item, found)
    elif isinstance(value, list):
        for item in value:
            _urls(item, found)
    return found


def test_no_url_literals_in_python():
    for path in PACKAGE.glob("*.py"):
        assert not re.search(r"https?://", path.read_text()), path.name


def test_every_url_in_the_resources_is_declared(result):
    t = terminology()
    declared = set(t["systems"].values()) | set(t["extensions"].values()) | set(t["profiles"].values())
    local = re.compile("^" + re.escape(t["local_identifier"]).replace(r"\{source\}", r"\w+")
                       .replace(r"\{ods\}", r"\w+").replace(r"\{table\}", r"\w+") + "$")
    found = set()
    for items in result.resources.values():
        for resource in items:
            _urls(resource, found)
    assert found, "no URLs found"
    assert {u for u in found if u not in declared and not local.match(u)} == set()


def test_carebridge_urls_live_under_the_carebridge_base():
    t = terminology()
    own = [u for section in ("systems", "extensions") for u in t[section].values() if "carebridge" in u]
    assert own and all(u.startswith(t["base"] + "/") for u in own)


def test_every_resource_declares_its_profile_and_record_source(result):
    t = terminology()
    for rtype, items in result.resources.items():
        for resource in items:
            assert resource["meta"]["profile"] == [t["profiles"][rtype]]
            (tag,) = resource["meta"]["tag"]
            assert tag["system"] == t["systems"]["record_source"] and "|" in tag["code"]


def test_resources_are_sorted_by_id(result):
    for items in result.resources.values():
        assert [r["id"] for r in items] == sorted(r["id"] for r in items)


# --- SNOMED CT, displays, the configurable base and the published definitions -----------------

def _snomed_positions(lists: dict) -> dict[str, str]:
    """Every code a code list gives as SNOMED CT -> where (gp_snomed, measures' snomed and items)."""
    found = {code: "gp_snomed" for code in lists["gp_snomed"]}
    for key, measure in lists["measures"].items():
        for code in [*(measure.get("snomed") or []), *(measure.get("items") or [])]:
            found[code] = f"measures.{key}"
    return found


def _yaml_numbers() -> set[str]:
    """Every 6-18 digit number in every code list file (a SNOMED-looking code anywhere)."""
    root = PACKAGE.parent
    files = [root / "carebridge" / "core" / "reference" / "codes.yaml", *sorted(PACKAGE.glob("*.yaml"))]
    return {m for f in files for m in re.findall(r"(?<![\w.])\d{6,18}(?![\w.])", f.read_text())}


def test_the_check_digit_tells_concept_ids_from_other_numbers():
    from carebridge.core.snomed import is_sctid

    # real concepts, among them UK ones whose item id ends in 7 or 9 (a wrong row of the Verhoeff
    # permutation table once refused exactly those: HoNOS item 4, DIALOG items 3 and 5, ReQoL-10)
    real = ["35489007", "720433000", "1037651000000100", "871731000000106", "979671000000109",
            "1037671000000109", "1037691000000108", "1091071000000100", "1638551000000109"]
    assert all(is_sctid(c) for c in real)
    assert not any(is_sctid(c) for c in ["1108281000000104", "35489008", "123", "0123456", "35489017", None])
    # Verhoeff catches every single-digit error and every swap of two adjacent different digits
    for code in real:
        for i, digit in enumerate(code):
            assert not any(is_sctid(code[:i] + d + code[i + 1:]) for d in "0123456789" if d != digit), code
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                assert not is_sctid(code[:i] + code[i + 1] + code[i] + code[i + 2:]), (code, i)


def test_every_snomed_code_in_every_code_list_passes_the_check_digit():
    from carebridge.core.reference import codes
    from carebridge.core.snomed import is_sctid

    lists = codes()
    not_snomed = set(lists["not_snomed"])
    # the exceptions really fail (the list is not a way round the check) and are all listed
    assert not any(is_sctid(c) for c in not_snomed)
    assert {c for c in _yaml_numbers() if not is_sctid(c)} == not_snomed
    positions = _snomed_positions(lists)
    assert len(positions) > 30
    assert {c: w for c, w in positions.items() if c not in not_snomed and not is_sctid(c)} == {}


def test_no_resource_carries_a_snomed_code_failing_the_check_digit(result):
    from carebridge.core.snomed import is_sctid

    snomed, local = terminology()["systems"]["snomed"], terminology()["systems"]["local_clinical_code"]
    codings = _codings(result.resources, lambda c: c.get("system") in (snomed, local) and "code" in c)
    assert codings and all(is_sctid(c["code"]) == (c["system"] == snomed) for c in codings)


def test_item_codes_of_a_measure_have_distinct_displays():
    from carebridge.core.reference import codes
    from fhir_mapping.observation import observation_code

    for key in ("DIALOG", "GBO"):
        measure = codes()["measures"][key]
        items = measure.get("items") or measure["snomed"]
        displays = [observation_code("mhsds", code, None)["coding"][0]["display"] for code in items]
        assert len(set(displays)) == len(items) > 2, key


def test_every_snomed_display_in_the_code_lists_is_its_recorded_preferred_term():
    from carebridge.core.reference import codes
    from fhir_mapping.observation import observation_code

    lists = codes()
    terms, sources = lists["snomed_terms"], lists["snomed_sources"]
    # every recorded term names its source, and every source says where it can be checked
    assert terms and all(entry["source"] in sources and entry["term"].strip() for entry in terms.values())
    assert all(re.search(r"https://\S+", text) for text in sources.values())
    unverified = {c for c, v in lists["gp_snomed"].items() if v.get("term_verified") is False}
    assert unverified.isdisjoint(terms)
    positions = _snomed_positions(lists)
    snomed = {c for c in positions if c not in set(lists["not_snomed"])}
    assert snomed - unverified <= set(terms), "a SNOMED code with neither a recorded term nor term_verified: false"
    assert set(terms) <= snomed, "a recorded term for a code no code list uses"
    for code, entry in lists["gp_snomed"].items():
        if code in terms:
            assert entry["name"] == terms[code]["term"], code
    for key, measure in lists["measures"].items():
        for code in [*(measure.get("snomed") or []), *(measure.get("items") or [])]:
            assert observation_code("mhsds", code, None)["coding"][0] == {
                "system": terminology()["systems"]["snomed"], "code": code, "display": terms[code]["term"]}, key


def test_every_gp_concept_is_confirmed_by_a_cited_source_or_marked_unverified():
    from carebridge.core.reference import codes

    lists = codes()
    gp, terms, concepts, sources = (lists[k] for k in ("gp_snomed", "snomed_terms", "snomed_concepts", "snomed_sources"))
    assert concepts and set(concepts) <= set(gp) and set(concepts).isdisjoint(terms)
    assert all(entry["source"] in sources for entry in concepts.values())
    semantic_tag = re.compile(r" \([a-z /]+\)$")
    for code, entry in concepts.items():
        # the concept is confirmed, its preferred term is not: the name is the source's description
        assert gp[code].get("verified") is not False and gp[code].get("term_verified") is False, code
        if "description" in entry:
            assert gp[code]["name"] == semantic_tag.sub("", entry["description"]), code
    assert {c for c, v in gp.items() if c not in terms and c not in concepts and v.get("verified") is not False} == set()


def test_snomed_codings_in_the_resources_carry_the_recorded_preferred_term(result):
    from carebridge.core.reference import codes

    terms, snomed = codes()["snomed_terms"], terminology()["systems"]["snomed"]
    codings = _codings(result.resources, lambda c: c.get("system") == snomed and c.get("code") in terms)
    assert codings and all(c.get("display") == terms[c["code"]]["term"] for c in codings)


def test_the_base_url_is_one_setting(monkeypatch):
    from fhir_mapping import terminology as module

    assert "carebridge.dev" not in module.default_base() and module.default_base().startswith("https://")
    monkeypatch.setenv(module.BASE_ENV, "https://fhir.example-trust.nhs.uk/carebridge/")
    module.terminology.cache_clear()
    try:
        t = module.terminology()
        assert t["base"] == "https://fhir.example-trust.nhs.uk/carebridge"
        assert t["systems"]["measure"] == "https://fhir.example-trust.nhs.uk/carebridge/CodeSystem/measure"
        assert module.local_identifier_system("gp", "Z1", "patient").startswith(t["base"] + "/Id/gp/Z1/")
        from warehouse.views_runner import view_definitions

        view_definitions.cache_clear()
        text = str(view_definitions())
        assert module.default_base() not in text and t["base"] + "/CodeSystem/record-source" in text
    finally:
        monkeypatch.delenv(module.BASE_ENV)
        module.terminology.cache_clear()
        view_definitions.cache_clear()


def test_every_local_system_and_extension_has_a_published_definition(result, tmp_path):
    import json

    from fhir_mapping import validate_resources
    from fhir_mapping.definitions import write_definitions

    paths = write_definitions(tmp_path)
    resources = [json.loads(p.read_text()) for p in paths]
    by_type: dict[str, list] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    assert validate_resources(by_type, workers=1).failures == []
    defined = {r["url"] for r in resources if "url" in r}
    t = terminology()
    used = set()
    for items in result.resources.values():
        for resource in items:
            _urls(resource, used)
    own = {u for u in used if u.startswith(t["base"] + "/") and "/Id/" not in u}
    assert own and own <= defined, own - defined
    assert set(t["extension_definitions"]) == {k for k, u in t["extensions"].items() if u.startswith(t["base"])}


def _codings(value, wanted) -> list[dict]:
    """Every dict anywhere in `value` (resources, nested) for which `wanted` is true."""
    if isinstance(value, dict):
        return ([value] if wanted(value) else []) + [c for item in value.values() for c in _codings(item, wanted)]
    if isinstance(value, list):
        return [c for item in value for c in _codings(item, wanted)]
    return []
