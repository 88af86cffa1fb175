"""Linkage: the person index across GP, trust, Talking Therapies and VCSE records.

Deterministic on a valid NHS number, then probabilistic (Splink, `probabilistic.yaml`) for
records without one; conflicts go to review; person ids are stable across runs.
"""

from carebridge.linkage.model import LinkageModel, default_model, load_model
from carebridge.linkage.person_index import PersonIndex, build_person_index, link_records, linkage_records
from carebridge.linkage.records import person_records
from carebridge.linkage.splink_linker import ProbabilisticLinker, ScoredPairs, SplinkLinker
from carebridge.linkage.stable_ids import IdAssignment, empty_assignment
from carebridge.linkage.summary import LINKAGE_SUMMARY_SCHEMA, summary_table

__all__ = ["PersonIndex", "ProbabilisticLinker", "ScoredPairs", "SplinkLinker", "IdAssignment", "LinkageModel",
           "build_person_index", "default_model", "empty_assignment", "link_records", "linkage_records", "load_model",
           "person_records", "LINKAGE_SUMMARY_SCHEMA", "summary_table"]
