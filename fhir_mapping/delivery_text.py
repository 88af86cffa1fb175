"""`delivery.delivery_parts` over canonical JSON text: the same parts, byte for byte, without
parsing the records.

The streaming bundle writer (`bundles.write_bundles_from_ndjson`) holds each resource as its
NDJSON line (`ndjson.dumps`: compact, keys sorted). In that text a string member `"reference"` is
always `"reference":"..."` and cannot occur inside a string (quotes there are escaped), so a
record's references are found, and rewritten to their urn:uuid or conditional targets, by one
regular expression; an entry is assembled around the record's text as `ndjson.dumps` of the
entry would write it (`fullUrl` < `request` < `resource`). Only the anchors (Patients and
Organizations, conditional updates whose body drops the id and whose URL needs the identifier)
are parsed, once per logical bundle. `delivery_parts` stays the definition; the tests compare both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from fhir_mapping.delivery import _anchor_entry, _closure, _levels, _pack, _part_bundle, conditional_url, max_entries
from fhir_mapping.ndjson import dumps
from fhir_mapping.terminology import terminology

__all__ = ["AnchorCache", "TextResource", "delivery_parts_text", "references_in"]

# References in canonical JSON hold no escapes (ids are [A-Za-z0-9.-]); one that did would match no key.
_REFERENCE = re.compile(r'"reference":"([^"\\]*)"')

TextResource = tuple[str, str, str]     # (`Type/id`, person id or "", canonical JSON of the resource)


def references_in(text: str) -> list[str]:
    """Every literal reference of a resource's canonical JSON (`delivery.references_of` on its dict)."""
    return _REFERENCE.findall(text)


# What `json.dumps(value, ensure_ascii=False)` writes for a string (the encoder `ndjson.dumps` uses).
_string = json.encoder.encode_basestring


def _rewritten(text: str, targets: dict[str, str]) -> str:
    """The text with every reference found in `targets` replaced by its target."""
    if not targets:
        return text

    def swap(match: re.Match[str]) -> str:
        target = targets.get(match.group(1))
        return match.group(0) if target is None else f'"reference":{_string(target)}'

    return _REFERENCE.sub(swap, text)


def _record_entry(key: str, text: str, targets: dict[str, str], base: str) -> str:
    return (f'{{"fullUrl":{_string(f"{base}/{key}")},"request":{{"method":"PUT","url":{_string(key)}}},'
            f'"resource":{_rewritten(text, targets)}}}')


def _part_text(recipient: str, label: str, number: int, total: int, entries: list[str], timestamp: str) -> str:
    head = dumps(_part_bundle(recipient, label, number, total, [], timestamp))
    empty = '{"entry":[]'
    if not head.startswith(empty):      # "entry" sorts first among the Bundle's members
        raise AssertionError(f"unexpected Bundle member order: {head[:40]}")
    return '{"entry":[' + ",".join(entries) + head[len(empty) - 1:]


class AnchorCache:
    """Anchor entries already written for one recipient (a Patient or Organization recurs in every
    month's bundle of the organisation): reused when the targets of its references are the same.
    At most `size` entries, so memory stays bounded whatever the recipient's population."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self.recipient: str | None = None
        self.entries: dict[str, tuple[tuple[str | None, ...], str]] = {}
        self.org_urls: dict[str, str] = {}

    def use(self, recipient: str) -> None:
        if recipient != self.recipient or len(self.entries) > self.size:
            self.recipient = recipient
            self.entries.clear()
        if len(self.org_urls) > self.size:
            self.org_urls.clear()


def delivery_parts_text(recipient: str, month: str, resources: Sequence[TextResource], timestamp: str,
                        limit: int | None = None, cache: AnchorCache | None = None) -> list[str]:
    """`[dumps(p) for p in delivery_parts(recipient, month, parsed resources, timestamp, limit)]`,
    from (key, person, canonical JSON) triples in the order `delivery_parts` would receive them."""
    limit = limit or max_entries()
    cache = cache or AnchorCache()
    cache.use(recipient)
    by_key = {key: text for key, _, text in resources}
    person = {key: who or "" for key, who, _ in resources}
    refs = {key: references_in(text) for key, text in by_key.items()}
    kind = {key: key.split("/", 1)[0] for key in by_key}
    orgs = sorted(k for k in by_key if kind[k] == "Organization")
    patient_refs = {k: refs[k] for k in by_key if kind[k] == "Patient"}
    for k in orgs:      # an Organization's conditional URL does not depend on the recipient
        if k not in cache.org_urls:
            cache.org_urls[k] = conditional_url(json.loads(by_key[k]), recipient)
    targets = {k: cache.org_urls[k] for k in orgs}
    targets.update({k: "urn:uuid:" + k.split("/", 1)[1] for k in patient_refs})
    records = {k: t for k, t in by_key.items() if k not in targets}
    levels = _levels(records, refs)
    order = sorted(records, key=lambda k: (person[k], levels[k], k))
    needs_of = {k: _closure(refs[k], patient_refs) for k in order}
    reached = set().union(*needs_of.values()) if needs_of else set()
    groups = _pack(order, needs_of, limit)
    groups += [(_closure([k], patient_refs), []) for k in sorted(set(patient_refs) - reached)]

    def anchor(key: str) -> str:
        signature = tuple(targets.get(ref) for ref in refs[key])
        hit = cache.entries.get(key)
        if hit is None or hit[0] != signature:
            hit = signature, dumps(_anchor_entry(key, json.loads(by_key[key]), recipient, targets))
            cache.entries[key] = hit
        return hit[1]

    base = terminology()["base"]
    parts = [[anchor(k) for k in orgs[i:i + limit]] for i in range(0, len(orgs), limit)]
    parts += [[anchor(k) for k in sorted(needed)] + [_record_entry(k, by_key[k], targets, base) for k in keys]
              for needed, keys in groups]
    total = len(parts)
    return [_part_text(recipient, month, i, total, entries, timestamp) for i, entries in enumerate(parts, 1)]
