"""Person-level source records (GP patient, MHS001MPI/MHS002GP, IDS001MPI, VCSE person).

A person has a record at a provider when that provider sent something about them; it is
delivered in every month the provider sent something about them (GP practices: the whole
registered list in the first month, then people with activity or a registration change).
Attributes are the person's own, coded the way each source codes them; VCSE records lack the
NHS number for a designed share of people (extracts.md: completeness is poor there).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .config import extracts, params
from .local_ids import PersonIds
from .population import Population
from .vector import NAT, stream
from .window import Window

__all__ = ["presence", "gp_presence", "person_records"]


def presence(delivered: list[pa.Table]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (provider, person, month) of a source's delivered rows."""
    rows = pa.concat_tables([t.select(["_provider", "_person", "_month"]) for t in delivered])
    unique = rows.group_by(["_provider", "_person", "_month"], use_threads=False).aggregate([])
    return (unique["_provider"].to_numpy(zero_copy_only=False), unique["_person"].to_numpy(),
            unique["_month"].to_numpy())


def gp_presence(people: Population, window: Window, activity: tuple[np.ndarray, np.ndarray, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The registered list in the first month, plus months with activity or a registration change."""
    first_start, first_end = window.month_bounds(0)
    registered = (people.registration_start <= first_end) & ~(people.registration_end < first_start)
    everyone = np.arange(len(people))
    start_month = window.month_index(people.registration_start)
    end_month = np.where(np.isnat(people.registration_end), -1, window.month_index(people.registration_end))
    last = len(window.months) - 1
    joined = (start_month >= 0) & (start_month <= last)
    left = (end_month >= 0) & (end_month <= last)
    person = np.concatenate([everyone[registered], everyone[joined], everyone[left], activity[1]])
    month = np.concatenate([np.zeros(int(registered.sum()), np.int64), start_month[joined], end_month[left],
                            activity[2]])
    pairs = np.unique(np.column_stack([person, month]), axis=0)
    return people.practice_ods[pairs[:, 0]], pairs[:, 0], pairs[:, 1]


def person_records(source: str, people: Population, provider: np.ndarray, person: np.ndarray,
                   person_ids: PersonIds, seed: int, residence_org: str | None) -> tuple[pa.Table, np.ndarray]:
    """One record per (provider, person) present; returns the frame and each presence row's record."""
    providers, provider_index = np.unique(provider.astype(str), return_inverse=True)
    key = provider_index.astype(np.int64) * len(people) + person
    keys, record_of_row = np.unique(key, return_inverse=True)
    who, at = keys % len(people), providers[keys // len(people)].astype(object)
    n = len(keys)
    nhs = people.nhs_number[who].copy()
    missing = np.zeros(n, dtype=bool)
    if source == "vcse":
        missing = stream(seed, "vcse/nhs-number-missing").random(n) < params()["vcse"]["nhs_number_missing_share"]
        nhs[missing] = None
    mpi = source in ("mhsds", "talking_therapies")
    gender = params()["population"]["gender_code"]
    sex = np.array([gender[s] for s in people.sex[who]], dtype=object) if mpi else people.sex[who]
    practices = sorted(set(people.practice_ods.tolist()))
    gmp = np.char.add("G", (params()["population"]["gmp_code_base"] +
                            np.searchsorted(practices, people.practice_ods[who].astype(str))).astype(str))
    frame = pa.table({
        "source": pa.array(np.full(n, source, dtype=object), pa.string()),
        "provider_ods": pa.array(at, pa.string()),
        "table": pa.array(np.full(n, extracts()["person_tables"][source]["table"], dtype=object), pa.string()),
        "local_id": person_ids.lookup(source, at, who),
        "person": pa.array(who, pa.int64()),
        "nhs_number": pa.array(nhs, pa.string()),
        "nhs_status": pa.array(np.where(missing | (not mpi), None, "01"), pa.string()),
        "given_name": pa.array(people.given_name[who], pa.string()),
        "family_name": pa.array(people.family_name[who], pa.string()),
        "birth_date": pa.array(people.birth_date[who], pa.date32()),
        "sex": pa.array(sex, pa.string()),
        "ethnic_category": pa.array(people.ethnic_category[who], pa.string()),
        "postcode": pa.array(people.postcode[who], pa.string()),
        "lsoa_code": pa.array(people.lsoa_code[who], pa.string()),
        "registration_start": pa.array(people.registration_start[who], pa.date32()),
        "registration_end": pa.array(people.registration_end[who], pa.date32(), from_pandas=True),
        "type1_objection": pa.array(people.type1_objection[who], pa.bool_()),
        "residence_org": pa.array(np.full(n, residence_org, dtype=object), pa.string()),
        "death_date": pa.array(np.full(n, NAT), pa.date32(), from_pandas=True),
        "gmp_code": pa.array(gmp.astype(object), pa.string()),
        "gp_practice_ods": pa.array(people.practice_ods[who], pa.string()),
    })
    return frame, record_of_row
