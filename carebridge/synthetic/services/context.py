"""What every builder works with: the population, organisations, random stream and recorder."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from carebridge.core.reference import Reference

from ..config import params
from ..frames import Numbers, Recorder
from ..population import Population, practices_of
from ..vector import clip_round, pick, stream
from ..window import Window

__all__ = ["Severity", "Providers", "Context", "Episodes", "make_severity"]


@dataclass(frozen=True)
class Severity:
    """Each person's symptom levels and main complaint when a mental health journey starts."""
    phq9: np.ndarray
    gad7: np.ndarray
    wsas: np.ndarray
    complaint: np.ndarray           # depression, anxiety, mixed


def make_severity(rng: np.random.Generator, n: int) -> Severity:
    s = params()["severity"]

    def normal(spec: dict) -> np.ndarray:
        return clip_round(rng.normal(spec["mean"], spec["sd"], n), spec["min"], spec["max"])

    return Severity(normal(s["phq9"]), normal(s["gad7"]), normal(s["wsas"]), pick(rng, s["complaint"], n))


@dataclass(frozen=True)
class Providers:
    """The demo's organisations, from the reference data (never hard-coded)."""
    practices: tuple[str, ...]
    pcns: tuple[str, ...]           # the distinct PCNs, in order
    trust: str
    talking_therapies: str
    vcse: tuple[str, ...]

    @classmethod
    def from_reference(cls, reference: Reference) -> "Providers":
        practices, pcns = practices_of(reference)
        kinds = reference.organisation_kinds()
        of_kind = {kind: sorted(ods for ods, k in kinds.items() if k == kind) for kind in set(kinds.values())}
        return cls(tuple(practices), tuple(sorted(set(pcns))), of_kind["mh_trust"][0],
                   of_kind["talking_therapies"][0], tuple(of_kind["vcse"]))


@dataclass(frozen=True)
class Context:
    seed: int
    rng: np.random.Generator
    window: Window
    people: Population
    providers: Providers
    severity: Severity
    out: Recorder
    numbers: Numbers

    def fork(self, name: str) -> "Context":
        """The same context with its own random stream."""
        return replace(self, rng=stream(self.seed, name))

    def imd(self, people: np.ndarray) -> np.ndarray:
        return self.people.imd_decile[people]


@dataclass(frozen=True)
class Episodes:
    """One referral per input person: its number and the dates the next step can follow."""
    ref_no: np.ndarray
    received: np.ndarray
    last_contact: np.ndarray        # NaT when never in contact
    end: np.ndarray                 # discharge, rejection or the last known activity
    discharged: np.ndarray
    rejected: np.ndarray
    trajectory: np.ndarray          # improve, flat, worse (None where not measured)

    def take(self, rows: np.ndarray) -> "Episodes":
        """The episodes at the given positions (or boolean mask)."""
        return Episodes(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))
