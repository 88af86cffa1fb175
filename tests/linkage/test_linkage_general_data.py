"""Linkage on data the generator never makes: two files of people with names, birth dates and
4-digit (non-UK) postcodes, no NHS numbers, with swapped names, typos, transposed dates and moves.
Built here, independently of carebridge.synthetic, so nothing is tuned to the generator."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from carebridge.linkage import SplinkLinker, link_records
from carebridge.linkage.quality import pairwise_quality
from carebridge.linkage.records import PERSON_RECORD_SCHEMA

GIVEN = ("Aaron Abigail Adrian Alana Alice Amber Angus Annika Archer Ava Bailey Beau Bianca Blake Bridget Brodie "
         "Caleb Cameron Chelsea Cody Connor Daisy Dane Declan Dylan Eden Eliza Ellie Emerson Erin Ethan Evie Felix "
         "Finn Flynn Georgia Hamish Harper Hayden Heidi Hudson Imogen Indiana Isaac Jack Jade Jasmine Jayden Jed "
         "Jessica Jordan Kai Kayla Keira Lachlan Lara Liam Lily Logan Lucas Madison Maya Mia Mitchell Molly Nate "
         "Noah Oscar Paige Phoebe Riley Ruby Ryan Sienna Skye Tahlia Tyson Zac Zara").split()
FAMILY = ("Anderson Bartlett Beaumont Blackwell Bowden Brennan Callaghan Carmody Chalmers Costello Crawford Dawson "
          "Donnelly Eastwood Fairweather Fitzgerald Galloway Gillespie Hargreaves Hartley Henderson Hollis Jarvis "
          "Kavanagh Kennedy Lockhart Lombardi Macpherson Mahoney Matthews McAllister McKenzie Monaghan Nicholson "
          "Norwood Oakley Pemberton Prendergast Quinlan Radcliffe Rafferty Ramsay Rowntree Saunders Sheridan "
          "Stavros Sutherland Tennant Thornton Underwood Valentine Wakefield Whitfield Yarwood Zappia Nguyen Papadopoulos "
          "Kowalczyk Andersson Ferreira Okonkwo Takahashi Rasmussen Vasquez Dubois Novak Horvath Jensen Schultz").split()
PEOPLE = 800


def _typo(rng, text: str) -> str:
    if len(text) < 3:
        return text + text[-1]
    i = int(rng.integers(1, len(text) - 1))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    return text[:i] + "aeiourstln"[int(rng.integers(0, 10))] + text[i + 1:]


def _people(rng):
    n = PEOPLE
    birth = dt.date(1930, 1, 1) + np.array([dt.timedelta(days=int(d)) for d in rng.integers(0, 29000, n)])
    return {"given": rng.choice(GIVEN, n), "family": rng.choice(FAMILY, n), "birth": birth,
            "sex": rng.choice(["M", "F"], n), "postcode": rng.integers(2000, 8000, n).astype(str)}


def _corrupt(rng, person):
    """One record of the person as a second file holds it: each error at its own rate."""
    given, family, birth, postcode = person["given"], person["family"], person["birth"], person["postcode"]
    draw = rng.random(6)
    if draw[0] < 0.15:
        given, family = family, given
    if draw[1] < 0.25:
        if rng.random() < 0.5:
            given = _typo(rng, given)
        else:
            family = _typo(rng, family)
    if draw[2] < 0.08 and birth.day <= 12 and birth.day != birth.month:
        birth = dt.date(birth.year, birth.day, birth.month)
    elif draw[2] < 0.16:
        birth = dt.date(birth.year + int(rng.choice([-1, 1])), birth.month, birth.day if (birth.month, birth.day) != (2, 29) else 28)
    if draw[3] < 0.10:
        postcode = str(int(postcode) + int(rng.choice([-1, 1, -10, 10])))
    elif draw[3] < 0.18:
        postcode = str(rng.integers(2000, 8000))
    if draw[4] < 0.05:
        postcode = None
    if draw[5] < 0.04:
        given = None
    return given, family, birth, postcode


def _records(seed: int = 3):
    rng = np.random.default_rng(seed)
    people = _people(rng)
    rows, truth = [], []
    for i in range(PEOPLE):
        person = {k: v[i] for k, v in people.items()}
        if rng.random() < 0.9:       # file A holds 90% of the people
            rows.append(("a", f"A{i:05d}", person["given"], person["family"], person["birth"], person["postcode"], person["sex"]))
            truth.append(i)
        if rng.random() < 0.8:       # file B 80%, with errors
            given, family, birth, postcode = _corrupt(rng, person)
            rows.append(("b", f"B{i:05d}", given, family, birth, postcode, person["sex"]))
            truth.append(i)
    n = len(rows)
    columns = {f.name: pa.nulls(n, f.type) for f in PERSON_RECORD_SCHEMA}
    columns.update({
        "source": pa.array([r[0] for r in rows]), "provider_ods": pa.array(["X"] * n),
        "local_patient_id": pa.array([r[1] for r in rows]), "priority": pa.array([0] * n, pa.int64()),
        "reporting_month": pa.array(["2025-04"] * n), "given_name": pa.array([r[2] for r in rows]),
        "family_name": pa.array([r[3] for r in rows]), "birth_date": pa.array([r[4] for r in rows], pa.date32()),
        "gender": pa.array(["male" if r[6] == "M" else "female" for r in rows]),
        "postcode": pa.array([r[5] for r in rows])})
    table = pa.table(columns, schema=PERSON_RECORD_SCHEMA)
    table = table.append_column("unique_id", pa.array(range(1, n + 1), pa.int64()))
    table = table.append_column("trusted", pa.array([False] * n))
    keys = {"source": table["source"], "provider_ods": table["provider_ods"]}
    truth_table = pa.table({**keys, "local_id": table["local_patient_id"], "person_id": pa.array([f"T{t}" for t in truth])})
    return table, truth_table


@pytest.fixture(scope="module")
def linked():
    records, truth = _records()
    index = link_records(records, linker=SplinkLinker(), run="general")
    trusted = records.select(["source", "provider_ods", "local_patient_id", "trusted"])
    return pairwise_quality(index.links, truth, trusted), index


def test_names_dates_and_four_digit_postcodes_without_nhs_numbers_link_with_high_recall(linked):
    quality, index = linked
    assert quality.true_pairs > 500
    assert quality.recall >= 0.95, quality.as_dict()
    assert quality.precision >= 0.98, quality.as_dict()
    # trained without labels: there are none here
    assert "expectation maximisation" in index.scored.training["m"]
