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
