"""UK Core rules (`ukcore_rules.yaml`) checked on every resource, beside the R4B model validation.

`check_profiles(resources) -> ProfileReport(checked, failures)`; a failure is
`{resource_type, id, rule, detail}`. Resources are never dropped: the pipeline reports failures as
a failed asset check. Details name systems and elements, never values of the record (an NHS
number is reported as "not 10 digits with a valid check digit", not shown; no code is shown either,
since a code of a resource about a person is data about that person).

One function per rule kind, each `(resource, scan, context) -> list of (rule, detail)`; `RULES` lists
them. References are checked against the whole output: a literal `Type/id` reference must name a
resource that was written, when resources of that type were written at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from carebridge.core import nhs_number
from carebridge.core.reference import codes
from fhir_mapping.elements import shared_ids, shared_memo
from fhir_mapping.terminology import extension, system, terminology
from carebridge.core.snomed import is_sctid

__all__ = ["ProfileReport", "check_profiles", "check_resource", "rules", "RULES"]

Resource = dict[str, Any]
Problem = tuple[str, str]  # (rule, detail)


@dataclass(frozen=True)
class ProfileReport:
    checked: int
    failures: list[dict[str, str]] = field(default_factory=list)  # {resource_type, id, rule, detail}

    @property
    def ok(self) -> bool:
        return not self.failures

    def by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for failure in self.failures:
            counts[failure["rule"]] = counts.get(failure["rule"], 0) + 1
        return dict(sorted(counts.items()))


@cache
def rules() -> dict[str, Any]:
    with open(Path(__file__).parent / "ukcore_rules.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class _Context:
    """What every check may consult: the rules resolved to URLs, and the keys of all resources written."""
    keys: frozenset[str]
    written_types: frozenset[str]
    known_systems: frozenset[str]
    ods_systems: frozenset[str]


def _context(resources: dict[str, list[Resource]]) -> _Context:
    return _Context(
        keys=frozenset(f"{r.get('resourceType')}/{r.get('id')}" for items in resources.values() for r in items),
        written_types=frozenset(t for t, items in resources.items() if items),
        known_systems=frozenset(terminology()["systems"].values()),
        ods_systems=frozenset(system(name) for name in rules()["ods"]["systems"]),
    )


# --- walking a resource ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scan:
    """What the walking rules need of one resource, found in one walk over it: the problems of the
    objects `_ods` and `_code_systems` look at, and every literal reference, in walk order."""
    ods: list[Problem]
    codes: list[Problem]
    references: list[tuple[str, str]]        # (element path, reference)


def _scan(resource: Resource, ctx: _Context) -> _Scan:
    """Walk a resource once and check every JSON object a walking rule looks at (one with a
    `reference` or a `system`: references, Codings, identifiers, Quantities; paths are dotted,
    list positions left out). Most objects are neither, so they are walked through unchecked. An
    element the mappers share between resources (`elements.shared`) is scanned once per path."""
    listed, static = shared_ids(), (ctx.known_systems, ctx.ods_systems)
    ods: list[Problem] = []
    codes: list[Problem] = []
    refs: list[tuple[str, str]] = []
    stack: list[tuple[str, dict[str, Any]]] = [("", resource)]
    while stack:
        path, obj = stack.pop()
        if id(obj) in listed:
            found = shared_memo(obj, (_scan, path, static), lambda: _scan_shared(path, obj, ctx))
            ods += found[0]
            codes += found[1]
            refs += found[2]
            continue
        if "reference" in obj or "system" in obj:
            _check_object(path, obj, ctx, ods, codes, refs)
        for key, item in obj.items():
            if type(item) is dict:
                stack.append((f"{path}.{key}" if path else key, item))
            elif type(item) is list:
                inner = f"{path}.{key}" if path else key
                stack.extend((inner, element) for element in item if type(element) is dict)
    return _Scan(ods, codes, refs)


def _scan_shared(path: str, obj: dict[str, Any], ctx: _Context) -> tuple[list, list, list]:
    ods: list[Problem] = []
    codes: list[Problem] = []
    refs: list[tuple[str, str]] = []
    for rel, inner in _within(obj):
        _check_object(path + rel, inner, ctx, ods, codes, refs)
    return ods, codes, refs


def _check_object(path: str, obj: dict[str, Any], ctx: _Context, ods: list[Problem], codes: list[Problem],
                  refs: list[tuple[str, str]]) -> None:
    if "identifier" in obj and str(obj.get("reference", "")).startswith("Organization/"):
        ods += _ods_identifier(obj["identifier"], ctx, path)
    codes += _coded_value(path, obj, ctx)
    reference = obj.get("reference")
    if isinstance(reference, str):
        refs.append((path, reference))


def _within(obj: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The objects `_scan` checks inside an element, paths relative to it (`.key.key`; "" for itself),
    in the order the walk of a resource finds them (a subtree is walked before what was stacked)."""
    found: list[tuple[str, dict[str, Any]]] = []
    stack: list[tuple[str, dict[str, Any]]] = [("", obj)]
    while stack:
        path, item = stack.pop()
        if "reference" in item or "system" in item:
            found.append((path, item))
        for key, value in item.items():
            if type(value) is dict:
                stack.append((f"{path}.{key}", value))
            elif type(value) is list:
                stack.extend((f"{path}.{key}", element) for element in value if type(element) is dict)
    return tuple(found)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding", []) if isinstance(c, dict)] if isinstance(concept, dict) else []


def _extensions(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension", []) if isinstance(e, dict) and e.get("url") == url]


# --- one function per rule kind --------------------------------------------------------------------

def _profile(resource: Resource, scan: _Scan, ctx: _Context) -> list[Problem]:
    rtype = resource.get("resourceType", "")
    expected = terminology()["profiles"].get(rtype)
    if expected is None:
        return [("profile", f"no UK Core profile is declared for resource type {rtype}")]
    declared = (resource.get("meta") or {}).get("profile") or []
    if expected not in declared:
        return [("profile", f"meta.profile does not list {expected}")]
    return []


def _nhs_number(resource: Resource, scan: _Scan, ctx: _Context) -> list[Problem]:
    if resource.get("resourceType") != "Patient":
        return []
    rule = rules()["nhs_number"]
    problems: list[Problem] = []
    for ident in (i for i in resource.get("identifier", []) if i.get("system") == system(rule["system"])):
        value = ident.get("value")
        if not (isinstance(value, str) and len(value) == rule["digits"] and nhs_number.is_valid(value)):
            problems.append(("nhs_number", f"identifier value is not {rule['digits']} digits with a valid check digit"))
        statuses = _extensions(ident, extension(rule["verification_extension"]))
        codes_found = [(c.get("system"), c.get("code")) for e in statuses for c in _codings(e.get("valueCodeableConcept"))]
        wanted = system(rule["verification_system"])
        if len(statuses) != 1 or not any(s == wanted and c in rule["verification_codes"] for s, c in codes_found):
            problems.append(("nhs_number_verification",
                             f"NHS number needs one verification status extension coded {wanted} "
                             f"{rule['verification_codes'][0]}-{rule['verification_codes'][-1]} "
                             f"({len(statuses)} extensions found)"))
    return problems


def _ods_identifier(ident: Any, ctx: _Context, where: str) -> list[Problem]:
    if not isinstance(ident, dict):
        return [("ods_identifier", f"{where}: no identifier")]
    if ident.get("system") not in ctx.ods_systems:
        return [("ods_identifier", f"{where}: identifier system {ident.get('system')} is not an ODS system")]
    if not re.match(rules()["ods"]["code_pattern"], str(ident.get("value", ""))):
        return [("ods_identifier", f"{where}: identifier value is not an ODS code")]
    return []


def _ods(resource: Resource, scan: _Scan, ctx: _Context) -> list[Problem]:
    """An Organization carries an ODS identifier; every reference to one that names it uses ODS."""
    problems: list[Problem] = []
    if resource.get("resourceType") == "Organization":
        ods = [i for i in resource.get("identifier", []) if i.get("system") in ctx.ods_systems]
        problems += _ods_identifier(ods[0] if ods else None, ctx, "Organization.identifier")
    return problems + scan.ods


def _ethnic_category(resource: Resource, scan: _Scan, ctx: _Context) -> list[Problem]:
    if resource.get("resourceType") != "Patient":
        return []
    rule = rules()["ethnic_category"]
    wanted_system, allowed = system(rule["system"]), set(codes()[rule["code_list"]])
    problems: list[Problem] = []
    for ext in _extensions(resource, extension(rule["extension"])):
        codings = _codings(ext.get("valueCodeableConcept"))
        if not codings:
            problems.append(("ethnic_category", "extension has no valueCodeableConcept coding"))
        for coding in codings:
            if coding.get("system") != wanted_system or coding.get("code") not in allowed:
                problems.append(("ethnic_category", f"a coding (system {coding.get('system')}) is not "
                                                    f"an ethnic category of {wanted_system}"))
    return problems


_PATTERNS: list[Any] = [None, None]     # [the terminology() they were resolved with, (patterns, snomed URL)]


def _code_patterns() -> tuple[dict[str, re.Pattern[str]], str]:
    """The code_systems rule's patterns by system URL, compiled once per terminology."""
    term = terminology()
    if _PATTERNS[0] is not term:
        _PATTERNS[1] = ({system(name): re.compile(pattern) for name, pattern in rules()["code_systems"].items()},
                        system("snomed"))
        _PATTERNS[0] = term
    return _PATTERNS[1]


def _code_systems(resource: Resource, scan: _Scan, ctx: _Context) -> list[Problem]:
    """Every coded value (Coding, meta.tag, Quantity units: an object with `system` and `code`)."""
    return scan.codes


def _coded_value(path: str, obj: dict[str, Any], ctx: _Context) -> list[Problem]:
    patterns, snomed = _code_patterns()
    sys_url, code = obj.get("system"), obj.get("code")
    if not isinstance(sys_url, str) or not isinstance(code, str):
        return []
    if sys_url not in ctx.known_systems:
        return [("code_system", f"{path}: system {sys_url} is not a declared code system")]
    if sys_url in patterns and not patterns[sys_url].match(code):
        return [("code_system", f"{path}: a code is not a valid code of {sys_url}")]
    if sys_url == snomed and not is_sctid(code):
        return [("code_system", f"{path}: a SNOMED CT code fails the check digit")]
    return []


def _bindings(resource: Resource, scan: _Scan, ctx: _Context) -> list[Problem]:
    rtype = resource.get("resourceType", "")
    problems: list[Problem] = []
    for element, names in (rules()["bindings"].get(rtype) or {}).items():
        allowed = {system(n) for n in names}
        if not any(c.get("system") in allowed for c in _codings(resource.get(element))):
            problems.append(("binding", f"{rtype}.{element} has no coding from {sorted(allowed)}"))
    return problems


def _reference_type(reference: Any) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    return text.split("/", 1)[0] if isinstance(text, str) and "/" in text else None


def _references(resource: Resource, scan: _Scan, ctx: _Context) -> list[Problem]:
    """Required references present, each pointing at an allowed type; every literal reference resolves."""
    rtype = resource.get("resourceType", "")
    problems: list[Problem] = []
    for element, rule in (rules()["references"].get(rtype) or {}).items():
        refs = _as_list(resource.get(element))
        if rule.get("required") and not refs:
            problems.append(("reference_required", f"{rtype}.{element} is missing"))
        for ref in refs:
            target = _reference_type(ref)
            if target not in rule["types"]:
                problems.append(("reference_type", f"{rtype}.{element} points at {target}, not {rule['types']}"))
    for path, reference in scan.references:
        if reference not in ctx.keys:
            target = reference.split("/", 1)[0]
            if target in ctx.written_types:
                problems.append(("reference_resolves", f"{path} points at a {target} that was not written"))
    return problems


RULES: tuple[Callable[[Resource, _Scan, _Context], list[Problem]], ...] = (
    _profile, _nhs_number, _ods, _ethnic_category, _code_systems, _bindings, _references)


def check_resource(resource: Resource, ctx: _Context) -> list[dict[str, str]]:
    """Every rule's problems with one resource, as failure records."""
    scan = _scan(resource, ctx)
    return [{"resource_type": str(resource.get("resourceType")), "id": str(resource.get("id")), "rule": rule,
             "detail": detail} for check in RULES for rule, detail in check(resource, scan, ctx)]


def check_profiles(resources: dict[str, list[Resource]]) -> ProfileReport:
    """Check every resource of one output against the UK Core rules."""
    ctx = _context(resources)
    failures = [f for items in resources.values() for r in items for f in check_resource(r, ctx)]
    return ProfileReport(checked=sum(len(items) for items in resources.values()),
                         failures=sorted(failures, key=lambda f: (f["resource_type"], f["id"], f["rule"])))
