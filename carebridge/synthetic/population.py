"""The people of the synthetic integrated care system, generated column by column.

Everyone is registered at one of the reference data's GP practices. Practices serve catchments of
LSOAs with different deprivation; ethnic groups are spread unevenly across deprivation, so that
equality slices (ethnic group x IMD) are not flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carebridge.core.reference import Reference, codes

from .config import names, params
from .vector import NAT, add_days, between, map_values, pick, pick_rows
from .window import Window

__all__ = ["Population", "make_population", "practices_of", "nhs_numbers", "nhs_check_digits", "age_bands"]

_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


@dataclass
class Population:
    person_id: np.ndarray
    nhs_number: np.ndarray
    given_name: np.ndarray
    family_name: np.ndarray
    birth_date: np.ndarray
    age: np.ndarray                 # whole years at the start of the window
    sex: np.ndarray                 # M, F, I, U
    ethnic_category: np.ndarray
    ethnic_group: np.ndarray
    lsoa_code: np.ndarray
    imd_decile: np.ndarray
    postcode: np.ndarray
    practice_ods: np.ndarray
    pcn_code: np.ndarray
    registration_start: np.ndarray
    registration_end: np.ndarray    # NaT while registered
    type1_objection: np.ndarray
    smi_register: np.ndarray = field(default=None)  # set by the journeys
    related: np.ndarray = field(default=None)       # twin / household member (-1: none); demographic faults

    def __len__(self) -> int:
        return len(self.person_id)


def make_population(n: int, window: Window, rng: np.random.Generator, reference: Reference) -> Population:
    p = params()["population"]
    practices, pcns = practices_of(reference)
    profiles = [p["practice_profiles"][i % len(p["practice_profiles"])] for i in range(len(practices))]
    sizes = np.array([profile["size"] for profile in profiles])
    practice = rng.choice(len(practices), size=n, p=sizes / sizes.sum())
    lsoa_codes, deciles = _lsoas(reference)
    slopes = np.array([profile["deprivation"] for profile in profiles])
    lsoa = _assign_lsoa(rng, practice, len(practices), deciles, slopes)
    imd = deciles[lsoa]
    ethnic = _ethnicity(rng, imd)
    groups = {code: body["group"] for code, body in codes()["ethnic_category"].items()}
    sex = pick(rng, p["sex_weights"], n).astype(str)
    age = _ages(rng, n)
    birth = add_days(np.full(n, window.start), -(age * 365 + between(rng, (0, 364), n) + age // 4))
    given, family = _names(rng, sex, ethnic)
    reg_start, reg_end = _registration(rng, window, birth)
    width = max(7, len(str(n)))
    return Population(
        person_id=np.char.add("TP", np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object),
        nhs_number=nhs_numbers(rng, n, *p["nhs_number_prefixes"]),
        given_name=given, family_name=family, birth_date=birth, age=age, sex=sex,
        ethnic_category=ethnic, ethnic_group=map_values(ethnic, groups),
        lsoa_code=lsoa_codes[lsoa], imd_decile=imd,
        postcode=_postcodes(rng, lsoa, p["postcode_area"]),
        practice_ods=np.array(practices, dtype=object)[practice], pcn_code=np.array(pcns, dtype=object)[practice],
        registration_start=reg_start, registration_end=reg_end,
        type1_objection=rng.random(n) < p["type1_objection_share"],
        smi_register=np.zeros(n, dtype=bool),
    )


def practices_of(reference: Reference) -> tuple[list[str], list[str]]:
    orgs = reference.organisations.to_pylist()
    rows = sorted((o["ods_code"], o["parent_ods"]) for o in orgs if o["kind"] == "gp_practice")
    return [r[0] for r in rows], [r[1] for r in rows]


def _lsoas(reference: Reference) -> tuple[np.ndarray, np.ndarray]:
    table = reference.lsoa_imd
    return (np.array(table["lsoa_code"].to_pylist(), dtype=object),
            np.array(table["imd_decile"].to_pylist(), dtype=np.int64))


def _assign_lsoa(rng: np.random.Generator, practice: np.ndarray, n_practices: int,
                 deciles: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """Each practice serves a contiguous block of LSOAs, weighted by its deprivation profile."""
    catchment = np.arange(len(deciles)) * n_practices // len(deciles)
    serves = catchment[None, :] == np.arange(n_practices)[:, None]
    weights = np.exp(slopes[:, None] * (5.5 - deciles[None, :])) * serves
    return pick_rows(rng, weights[practice])


def _ethnicity(rng: np.random.Generator, imd: np.ndarray) -> np.ndarray:
    p = params()["population"]
    cats = list(p["ethnic_weights"])
    groups = codes()["ethnic_category"]
    base = np.array([p["ethnic_weights"][c] for c in cats], dtype=float)
    slope = np.array([p["deprivation_slope"].get(groups[c]["group"], 0.0) for c in cats])
    weights = base[None, :] * np.exp(slope[None, :] * (5.5 - imd[:, None]) / 4.5)
    return np.array(cats, dtype=object)[pick_rows(rng, weights)]


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    bands = params()["population"]["age_weights"]
    w = np.array([b[2] for b in bands], dtype=float)
    band = rng.choice(len(bands), size=n, p=w / w.sum())
    lo = np.array([b[0] for b in bands])[band]
    hi = np.array([b[1] for b in bands])[band]
    return lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)


def age_bands(age: np.ndarray) -> np.ndarray:
    """codes.yaml age band label of each age."""
    out = np.empty(len(age), dtype=object)
    for lo, hi, label in codes()["age_bands"]:
        out[(age >= lo) & (age <= hi)] = label
    return out


def _names(rng: np.random.Generator, sex: np.ndarray, ethnic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spec = names()
    n = len(sex)
    pool = map_values(ethnic, spec["by_ethnic_category"])
    unassigned = pool == None  # noqa: E711 - elementwise test on an object array
    pool[unassigned] = pick(rng, spec["mixed"], int(unassigned.sum()))
    name_sex = np.where(np.isin(sex, ["M", "F"]), sex, np.where(rng.random(n) < 0.5, "M", "F"))
    given = np.empty(n, dtype=object)
    family = np.empty(n, dtype=object)
    for pool_name, body in spec["pools"].items():
        in_pool = pool == pool_name
        for s in ("M", "F"):
            rows = np.flatnonzero(in_pool & (name_sex == s))
            given[rows] = np.array(body[s], dtype=object)[rng.integers(0, len(body[s]), len(rows))]
        rows = np.flatnonzero(in_pool)
        family[rows] = np.array(body["family"], dtype=object)[rng.integers(0, len(body["family"]), len(rows))]
    return given, family


def _registration(rng: np.random.Generator, window: Window, birth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = params()["population"]
    n = len(birth)
    lo, hi = p["registration_years"]
    start = add_days(np.full(n, window.start), -(rng.random(n) * (hi - lo) * 365.25 + lo * 365.25).astype(np.int64))
    new = rng.random(n) < p["new_registrant_share"]
    start[new] = add_days(np.full(int(new.sum()), window.start), rng.integers(0, window.days, int(new.sum())))
    start = np.maximum(start, birth)
    leaver = (~new) & (rng.random(n) < p["leaver_share"])
    end = np.full(n, NAT)
    end[leaver] = add_days(np.full(int(leaver.sum()), window.start), rng.integers(0, window.days, int(leaver.sum())))
    return start, end


def nhs_check_digits(prefixes: np.ndarray) -> np.ndarray:
    """Modulus 11 check digit of nine-digit prefixes; -1 where none exists (reference.md)."""
    digits = (prefixes[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    check = 11 - (digits * np.arange(10, 1, -1)).sum(axis=1) % 11
    check = np.where(check == 11, 0, check)
    return np.where(check == 10, -1, check)


def nhs_numbers(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """n distinct valid NHS numbers with nine-digit prefixes drawn from [lo, hi]."""
    found = np.empty(0, dtype=np.int64)
    while len(found) < n:
        prefixes = rng.integers(lo, hi + 1, size=int((n - len(found)) * 1.3) + 16)
        check = nhs_check_digits(prefixes)
        candidates = np.concatenate([found, prefixes[check >= 0] * 10 + check[check >= 0]])
        _, first = np.unique(candidates, return_index=True)
        found = candidates[np.sort(first)]
    return found[:n].astype(str).astype(object)


def _postcodes(rng: np.random.Generator, lsoa: np.ndarray, area: str) -> np.ndarray:
    """Synthetic postcodes whose district follows the LSOA, e.g. QZ12 3AB."""
    n = len(lsoa)
    district = np.char.add(area, (lsoa + 1).astype(str))
    letters = _INWARD_LETTERS[rng.integers(0, len(_INWARD_LETTERS), (n, 2))]
    inward = np.char.add(np.char.add(rng.integers(0, 10, n).astype(str), letters[:, 0]), letters[:, 1])
    return np.char.add(np.char.add(district, " "), inward).astype(object)
