"""Linkage: the person index across GP, trust, Talking Therapies and VCSE records."""

from linkage.person_index import PersonIndex, ProbabilisticLinker, build_person_index
from linkage.records import person_records

__all__ = ["PersonIndex", "ProbabilisticLinker", "build_person_index", "person_records"]
