"""Dagster wiring for carebridge. Thin: every asset calls the pure packages and records metadata."""

from pipelines.definitions import build_definitions, defs

__all__ = ["defs", "build_definitions"]
