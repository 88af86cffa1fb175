"""The UK Core profile check (`fhir_mapping.profiles`) over a batched export, with the same result as
`check_profiles` over the whole output.

Every rule but one looks at a single resource, so each shard checks its own resources. The
exception is `reference_resolves` (a literal reference names a resource that was written): a
shard cannot know what other shards wrote. So a shard's check treats every reference as resolved
and remembers the ones that are not its own (`elsewhere`, a few: organisations, services, records
of other people); the export looks those up while it merges the files (`found`), and only when
some never turned up re-checks, with the real answer, the few resources that point at them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fhir_mapping import profiles
from fhir_mapping.profiles import ProfileReport, check_resource

__all__ = ["ShardProfiles", "check_shard", "unresolved", "recheck_references", "profile_report"]

Resources = dict[str, list[dict[str, Any]]]
_RESOLVES = "reference_resolves"


class _OwnOrElsewhere:
    """`keys` of a shard's check context: every reference resolves; those not in `own` are kept."""

    def __init__(self, own: set[str]) -> None:
        self.own = own
        self.elsewhere: set[str] = set()

    def __contains__(self, key: object) -> bool:
        if key not in self.own:
            self.elsewhere.add(str(key))
        return True


class _AllBut:
    """`keys` of the re-check context: everything was written except `missing`."""

    def __init__(self, missing: set[str]) -> None:
        self.missing = missing

    def __contains__(self, key: object) -> bool:
        return key not in self.missing


def _context(keys: object, written_types: Iterable[str] = ()) -> Any:
    return dataclasses.replace(profiles._context({}), keys=keys, written_types=frozenset(written_types))


@dataclasses.dataclass(frozen=True)
class ShardProfiles:
    checked: int
    failures: list[dict[str, str]]     # every rule's failures except reference_resolves
    elsewhere: set[str]                # `Type/id` references to resources not in the shard


def check_shard(resources: Resources) -> ShardProfiles:
    """Check one shard's resources (reference resolution deferred to the whole export)."""
    keys = _OwnOrElsewhere({f"{rtype}/{r['id']}" for rtype, items in resources.items() for r in items})
    ctx = _context(keys)
    failures = [f for rtype in sorted(resources) for r in resources[rtype] for f in check_resource(r, ctx)]
    return ShardProfiles(checked=sum(len(items) for items in resources.values()), failures=failures,
                         elsewhere=keys.elsewhere)


def unresolved(elsewhere: set[str], found: set[str], written_types: set[str]) -> set[str]:
    """References that name a written type but no written resource."""
    return {key for key in elsewhere - found if key.split("/", 1)[0] in written_types}


def recheck_references(files: Iterable[Path], missing: set[str], written_types: set[str]) -> list[dict[str, str]]:
    """reference_resolves failures of the resources (in NDJSON `files`) that point at `missing` keys."""
    if not missing:
        return []
    ctx = _context(_AllBut(missing), written_types)
    needles = [f'"reference":{json.dumps(key, ensure_ascii=False)}' for key in sorted(missing)]
    failures: list[dict[str, str]] = []
    for path in files:
        with open(path, encoding="utf-8", newline="\n") as fh:
            for line in fh:
                if any(needle in line for needle in needles):
                    failures += [f for f in check_resource(json.loads(line), ctx) if f["rule"] == _RESOLVES]
    return failures


def profile_report(checked: int, failures: list[dict[str, str]]) -> ProfileReport:
    """The report `check_profiles` gives: failures by (type, id, rule), in check order within."""
    return ProfileReport(checked=checked,
                         failures=sorted(failures, key=lambda f: (f["resource_type"], f["id"], f["rule"])))
