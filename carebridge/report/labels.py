"""Names for the codes in published tables, from carebridge.report.yaml and the project's code lists."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from carebridge.core.reference import codes

__all__ = ["settings", "label", "humanise"]

_FILE = Path(__file__).with_name("report.yaml")


@cache
def settings() -> dict[str, Any]:
    with open(_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def _names(kind: str) -> dict[str, str]:
    if kind == "service_types":
        return {**codes()["team_type"], **settings()["service_types"]}
    if kind == "measures":
        return {name: m["name"] for name, m in codes()["measures"].items()}
    return {str(k): v for k, v in settings().get(kind, {}).items()}


def humanise(code: str) -> str:
    """A code with no declared name, made readable: `reviews_ambiguous_match` -> `Reviews ambiguous match`."""
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text.islower() or "_" in code else text


def label(kind: str, code: object) -> str:
    """`code` with its name where one is known (`A06 Community mental health team - functional`);
    a code with no name is humanised rather than shown raw."""
    text = "" if code is None else str(code)
    name = _names(kind).get(text)
    if name is None:
        return humanise(text) if text else "Not known"
    return f"{text} {name}" if kind == "service_types" else name
