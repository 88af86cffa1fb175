"""Demographic faults: the errors real person records have (faults.yaml `demographic`).

Each kind has its own rate (0 unless configured). Record kinds change one source's logical person
record before it is rendered, so every table made from it (MHS001MPI and MHS002GP alike) and every
month it is delivered carries the change; a record gets at most one of them. `twin` and
`household` change the population itself: a person becomes the twin (or a household member) of
another, sharing family name, address and practice (twins: the birth date too). Every fault is
logged per person record in truth/faults.csv; the truth's person is unchanged, so the truth says
who is who whatever the records say.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from .config import faults, names, params
from .population import Population, nhs_check_digits

__all__ = ["DEMOGRAPHIC_KINDS", "RECORD_KINDS", "PERSON_KINDS", "demographic_rates", "relate_people",
           "apply_demographic_faults", "valid_nhs_typo", "nickname_of"]

PERSON_KINDS = ("twin", "household")


def _declared() -> dict[str, dict]:
    return faults().get("demographic", {})


DEMOGRAPHIC_KINDS = tuple(_declared())
RECORD_KINDS = tuple(k for k in DEMOGRAPHIC_KINDS if k not in PERSON_KINDS)


def demographic_rates(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The rate of every kind: faults.yaml's, overridden by `overrides` (`all` sets every kind)."""
    rates = {kind: float(body.get("rate", 0)) for kind, body in _declared().items()}
    for kind, rate in (overrides or {}).items():
        targets = DEMOGRAPHIC_KINDS if kind == "all" else (kind,)
        if kind != "all" and kind not in rates:
            raise ValueError(f"unknown demographic fault kind {kind!r}; known: {', '.join(DEMOGRAPHIC_KINDS)}")
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"demographic fault rate must be between 0 and 1: {kind}={rate}")
        for target in targets:
            rates[target] = float(rate)
    return rates


# --- person level: twins and household members ----------------------------------------------------

def relate_people(people: Population, rates: Mapping[str, float], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Make some people twins or household members of another (in place); returns kind -> persons
    changed. `people.related` gets the other person (-1: none)."""
    n = len(people)
    people.related = np.full(n, -1, dtype=np.int64)
    changed: dict[str, np.ndarray] = {}
    draw = rng.random(n)
    kinds, low = {}, 0.0
    for kind in PERSON_KINDS:
        rate = rates.get(kind, 0.0)
        kinds[kind] = (draw >= low) & (draw < low + rate)
        low += rate
    followers = np.zeros(n, dtype=bool)
    for chosen in kinds.values():
        followers |= chosen
    candidates = np.flatnonzero(~followers)
    if len(candidates) == 0:
        return changed
    taken = np.zeros(n, dtype=bool)   # a person leads at most one other
    for kind in PERSON_KINDS:
        chosen = np.flatnonzero(kinds[kind])
        leaders = candidates[rng.integers(0, len(candidates), len(chosen))]
        _, first = np.unique(leaders, return_index=True)
        keep = np.zeros(len(chosen), dtype=bool)
        keep[first] = True
        keep &= ~taken[leaders]
        chosen, leaders = chosen[keep], leaders[keep]
        taken[leaders] = True
        if len(chosen) == 0:
            continue
        copied = ["family_name", "postcode", "lsoa_code", "imd_decile", "practice_ods", "pcn_code"]
        if kind == "twin":
            copied += ["birth_date", "age"]
        for name in copied:
            column = getattr(people, name)
            column[chosen] = column[leaders]
        same_name = people.given_name[chosen] == people.given_name[leaders]
        if same_name.any():  # parents rarely give twins one name: take another person's
            donors = rng.integers(0, n, int(same_name.sum()))
            people.given_name[chosen[same_name]] = people.given_name[donors]
        people.related[chosen] = leaders
        people.related[leaders] = chosen
        changed[kind] = chosen
    return changed


# --- record level ---------------------------------------------------------------------------------

def valid_nhs_typo(number: str, rng: np.random.Generator) -> str | None:
    """`number` with two of its first nine digits changed so that the modulus 11 check still
    passes with the same check digit (None when no such change was found)."""
    digits = [int(c) for c in number]
    weights = list(range(10, 1, -1))
    for _ in range(50):
        i, j = sorted(rng.choice(9, 2, replace=False))
        di = int(rng.integers(1, 10))
        if not 0 <= digits[i] + di <= 9:
            di -= 10
        if not 0 <= digits[i] + di <= 9 or di == 0:
            continue
        # weights[i]*di + weights[j]*dj = 0 (mod 11)
        need = (-weights[i] * di * pow(weights[j], -1, 11)) % 11
        for dj in (need, need - 11):
            if dj != 0 and 0 <= digits[j] + dj <= 9:
                new = digits.copy()
                new[i] += di
                new[j] += dj
                text = "".join(map(str, new))
                check = nhs_check_digits(np.array([int(text[:9])]))[0]
                if check == new[9]:
                    return text
    return None


def nickname_of(given: str, choice: int) -> str:
    """A diminutive of `given`: listed in names.yaml `nicknames`, else its first syllable."""
    listed = names().get("nicknames", {}).get(given)
    if listed:
        return listed[choice % len(listed)]
    vowels = "aeiouy"
    for k in range(2, len(given) - 1):
        if given[k - 1].lower() in vowels and given[k].lower() not in vowels:
            return given[:k + 1] if len(given) > 4 else given + "ie"
    return given[:3] if len(given) > 4 else given + "ie"


def _dob_typo(day: np.datetime64, rng: np.random.Generator) -> np.datetime64:
    y, m, d = (int(v) for v in str(day).split("-"))
    for _ in range(20):
        part = int(rng.integers(0, 3))
        if part == 0:
            d2 = (d // 10) * 10 + int(rng.integers(0, 10)) if rng.random() < 0.5 else d + int(rng.choice([-1, 1]))
            y2, m2 = y, m
        elif part == 1:
            y2, m2, d2 = y, m + int(rng.choice([-1, 1])), d
        else:
            y2, m2, d2 = y + int(rng.choice([-1, 1, -10, 10])), m, d
        try:
            new = np.datetime64(f"{y2:04d}-{m2:02d}-{d2:02d}")
        except ValueError:
            continue
        if new != day and 1 <= m2 <= 12:
            return new
    return day + np.timedelta64(1, "D")


def _opposite_sex(code: str, mpi: bool) -> str:
    mapping = {"1": "2", "2": "1"} if mpi else {"M": "F", "F": "M"}
    return mapping.get(code, "2" if mpi else "F")


def _applies(kind: str, frame: dict[str, np.ndarray], source: str) -> np.ndarray:
    n = len(frame["local_id"])
    named = np.array([g is not None for g in frame["given_name"]]) & (source in ("gp", "vcse"))
    has_nhs = np.array([v is not None for v in frame["nhs_number"]])
    dob = frame["birth_date"].astype("datetime64[D]")
    if kind == "dob_transposed":
        text = dob.astype(str)
        day = np.array([int(t[8:10]) for t in text]) if n else np.zeros(0, int)
        month = np.array([int(t[5:7]) for t in text]) if n else np.zeros(0, int)
        return (day <= 12) & (day != month)
    if kind in ("name_swap", "nickname", "surname_double", "surname_changed"):
        return named
    if kind in ("nhs_typo_valid", "nhs_other_person"):
        return has_nhs
    if kind == "moved":
        return np.array([p is not None for p in frame["postcode"]])
    return np.ones(n, dtype=bool)


def apply_demographic_faults(frame: pa.Table, source: str, people: Population, rates: Mapping[str, float],
                             rng: np.random.Generator, opportunities: dict[str, int]) -> tuple[pa.Table, dict]:
    """Apply the record kinds to one source's logical person records. Returns the changed frame and
    kind -> (record indices, details)."""
    kinds = [k for k in RECORD_KINDS if rates.get(k, 0.0) > 0]
    if not kinds or frame.num_rows == 0:
        return frame, {}
    cols = {name: frame[name].to_numpy(zero_copy_only=False).astype(object) for name in
            ("local_id", "nhs_number", "given_name", "family_name", "sex", "postcode", "lsoa_code",
             "gp_practice_ods", "gmp_code")}
    cols["birth_date"] = frame["birth_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    who = frame["person"].to_numpy()
    mpi = source in ("mhsds", "talking_therapies")
    draw = rng.random(frame.num_rows)
    low, done = 0.0, {}
    for kind in kinds:
        rate = rates[kind]
        applies = _applies(kind, cols, source)
        opportunities[kind] = opportunities.get(kind, 0) + int(applies.sum())
        picked = np.flatnonzero((draw >= low) & (draw < low + rate) & applies)
        low += rate
        if len(picked):
            done[kind] = (picked, _mutate(kind, picked, cols, who, people, rng, mpi))
    arrays = {name: frame[name] for name in frame.column_names}
    for name, values in cols.items():
        if name == "birth_date":
            arrays[name] = pa.array(values, pa.date32(), from_pandas=True)
        else:
            arrays[name] = pa.array(values, pa.string())
    return pa.table(arrays, schema=frame.schema), done


def _mutate(kind: str, picked: np.ndarray, c: dict[str, np.ndarray], who: np.ndarray, people: Population,
            rng: np.random.Generator, mpi: bool) -> list[str]:
    details = []
    spec = _declared()[kind]
    for i in picked:
        if kind == "dob_transposed":
            old = c["birth_date"][i]
            y, m, d = str(old).split("-")
            c["birth_date"][i] = np.datetime64(f"{y}-{d}-{m}")
            details.append(f"birth_date {old} -> {c['birth_date'][i]}")
        elif kind == "dob_typo":
            old = c["birth_date"][i]
            c["birth_date"][i] = _dob_typo(old, rng)
            details.append(f"birth_date {old} -> {c['birth_date'][i]}")
        elif kind == "name_swap":
            c["given_name"][i], c["family_name"][i] = c["family_name"][i], c["given_name"][i]
            details.append(f"given/family swapped: {c['given_name'][i]} {c['family_name'][i]}")
        elif kind == "nickname":
            old = c["given_name"][i]
            c["given_name"][i] = nickname_of(old, int(rng.integers(0, 1000)))
            details.append(f"given_name {old} -> {c['given_name'][i]}")
        elif kind == "surname_double":
            old = c["family_name"][i]
            other = people.family_name[int(rng.integers(0, len(people)))]
            joiner = "-" if rng.random() < 0.5 else " "
            c["family_name"][i] = f"{old}{joiner}{other}" if rng.random() < 0.5 else f"{other}{joiner}{old}"
            details.append(f"family_name {old} -> {c['family_name'][i]}")
        elif kind == "surname_changed":
            old = c["family_name"][i]
            for _ in range(10):
                new = people.family_name[int(rng.integers(0, len(people)))]
                if new != old:
                    break
            c["family_name"][i] = new
            details.append(f"family_name {old} -> {new}")
        elif kind == "moved":
            old = (c["postcode"][i], c["lsoa_code"][i], c["gp_practice_ods"][i])
            j = int(rng.integers(0, len(people)))
            inward = f"{int(rng.integers(0, 10))}{''.join(rng.choice(list('ABDEFGHJLNPQRSTUWXYZ'), 2))}"
            c["postcode"][i] = f"{people.postcode[j].split()[0]} {inward}"
            c["lsoa_code"][i] = people.lsoa_code[j]
            if c["gp_practice_ods"][i] is not None and rng.random() < spec.get("practice_share", 0.0):
                practices = sorted(set(people.practice_ods.tolist()))
                new = practices[int(rng.integers(0, len(practices)))]
                c["gp_practice_ods"][i] = new
                c["gmp_code"][i] = "G" + str(params()["population"]["gmp_code_base"] + practices.index(new))
            new = (c["postcode"][i], c["lsoa_code"][i], c["gp_practice_ods"][i])
            details.append("moved " + " / ".join(map(str, old)) + " -> " + " / ".join(map(str, new)))
        elif kind == "nhs_typo_valid":
            old = c["nhs_number"][i]
            new = valid_nhs_typo(old, rng)
            if new is not None:
                c["nhs_number"][i] = new
            details.append(f"NHS number {old} -> {new or old} (passes modulus 11)")
        elif kind == "nhs_other_person":
            old = c["nhs_number"][i]
            related = getattr(people, "related", None)
            j = int(related[who[i]]) if related is not None and related[who[i]] >= 0 else -1
            if j < 0:
                j = int(rng.integers(0, len(people)))
                j = j if j != who[i] else (j + 1) % len(people)
            c["nhs_number"][i] = people.nhs_number[j]
            details.append(f"NHS number {old} -> {people.nhs_number[j]} ({people.person_id[j]})")
        elif kind == "sex_mismatch":
            old = c["sex"][i]
            c["sex"][i] = (("X" if mpi else "U") if rng.random() < 0.3 else _opposite_sex(old, mpi))
            details.append(f"sex {old} -> {c['sex'][i]}")
        elif kind == "missing_fields":
            fields = ["given_name", "family_name", "birth_date", "sex", "postcode"]
            k = int(rng.integers(1, 4))
            gone = sorted(rng.choice(len(fields), k, replace=False))
            for f in (fields[g] for g in gone):
                if f == "birth_date":
                    c[f][i] = np.datetime64("NaT")
                elif f == "sex":
                    c[f][i] = None
                else:
                    c[f][i] = None
                    if f == "postcode":
                        c["lsoa_code"][i] = None
            details.append("left empty: " + " + ".join(fields[g] for g in gone))
    return details
