"""Local ids as each source system shows them: a prefix and a zero-padded running number.

Record ids come from the generator's running numbers; person ids (patient_id, LocalPatientId,
VCSE person_id) from a per-system random permutation of the population, so the same person has
unrelated ids in different systems and linkage has to work for it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import extracts
from .vector import stream

__all__ = ["WIDTH", "format_ids", "record_ids", "referral_ids", "PersonIds", "consultation_ids", "table_prefix"]

WIDTH = 8


def _padded(numbers: np.ndarray | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Numbers as zero-padded text; null where null or negative."""
    if not isinstance(numbers, (pa.Array, pa.ChunkedArray)):
        numbers = pa.array(numbers, pa.int64())
    numbers = pc.if_else(pc.less(numbers, 0), pa.scalar(None, pa.int64()), numbers)
    return pc.utf8_lpad(pc.cast(numbers, pa.string()), WIDTH, "0")


def format_ids(prefix: str, numbers: np.ndarray | pa.Array) -> pa.Array:
    """prefix + number padded to WIDTH digits; null where the number is null or negative."""
    return pc.binary_join_element_wise(pa.scalar(prefix), _padded(numbers), "")


def _table_prefixes() -> dict[tuple[str, str], str]:
    """(source, extract table) -> local id prefix."""
    return {(source, table): spec["prefix"]
            for source, body in extracts()["sources"].items()
            for table, spec in body["tables"].items() if "prefix" in spec}


def _prefixes_for(keys: pa.ChunkedArray, mapping: dict[str, str]) -> pa.Array:
    """Each row's prefix, looked up by key (null where the key is not in the mapping)."""
    index = pc.index_in(keys, value_set=pa.array(list(mapping), pa.string()))
    return pc.take(pa.array(list(mapping.values()), pa.string()), index)


def record_ids(frame: pa.Table, number_field: str) -> pa.ChunkedArray:
    """Each row's local id, prefixed by its source table (frame needs `source` and `table`)."""
    keys = pc.binary_join_element_wise(frame["source"], frame["table"], ".")
    mapping = {f"{source}.{table}": prefix for (source, table), prefix in _table_prefixes().items()}
    return pc.binary_join_element_wise(_prefixes_for(keys, mapping), _padded(frame[number_field]), "")


REFERRAL_TABLES = {"mhsds": "MHS101Referral", "talking_therapies": "IDS101Referral", "vcse": "referral"}


def referral_ids(source: pa.ChunkedArray, ref_no: pa.ChunkedArray) -> pa.ChunkedArray:
    """The local id of the referral a row belongs to (the referral table of the row's source)."""
    prefixes = _table_prefixes()
    mapping = {src: prefixes[(src, table)] for src, table in REFERRAL_TABLES.items()}
    return pc.binary_join_element_wise(_prefixes_for(source, mapping), _padded(ref_no), "")


def consultation_ids(numbers: pa.ChunkedArray) -> pa.ChunkedArray:
    return format_ids(extracts()["sources"]["gp"]["consultation_prefix"], numbers)


class PersonIds:
    """Local patient ids per source system (GP practices share one numbering)."""

    def __init__(self, seed: int, population: int) -> None:
        self._seed, self._n = seed, population
        self._perms: dict[tuple[str, str], np.ndarray] = {}

    def _perm(self, source: str, provider: str) -> np.ndarray:
        key = (source, "" if source == "gp" else provider)
        if key not in self._perms:
            self._perms[key] = stream(self._seed, f"local-ids/{key[0]}/{key[1]}").permutation(self._n)
        return self._perms[key]

    def lookup(self, source: str, providers: np.ndarray, people: np.ndarray) -> pa.Array:
        """Local ids of `people` in `source` at the given providers (row by row)."""
        prefix = extracts()["person_tables"][source]["prefix"]
        numbers = np.zeros(len(people), dtype=np.int64)
        for provider in np.unique(providers):
            rows = providers == provider
            numbers[rows] = self._perm(source, str(provider))[people[rows]] + 1
        return format_ids(prefix, numbers)


def table_prefix(source: str, table: str) -> str:
    return _table_prefixes()[(source, table)]
