"""The two errors the view runner raises."""

from __future__ import annotations

__all__ = ["ViewDefinitionError", "NotCompilable", "SQL_ERROR_PREFIX"]

# Run-time errors raised inside compiled SQL start with this, so they can be told apart from engine errors.
SQL_ERROR_PREFIX = "ViewDefinition: "


class ViewDefinitionError(ValueError):
    """The view is invalid, or evaluating it broke a rule of the spec (e.g. several values in a
    non-collection column, a non-boolean `where`)."""


class NotCompilable(NotImplementedError):
    """The view is valid but this SQL dialect cannot express it; use the reference evaluator."""
