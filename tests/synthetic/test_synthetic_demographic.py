"""Demographic faults (faults.yaml `demographic`): each kind at its own rate, off unless configured,
logged per record in truth/faults.csv, and the record really carries what the log says."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from carebridge.core.nhs_number import is_valid
from carebridge.synthetic import generate
from carebridge.synthetic.config import faults as fault_spec
from carebridge.synthetic.demographic import DEMOGRAPHIC_KINDS, demographic_rates, nickname_of, valid_nhs_typo

RATE = 0.05
PERSONS = 1500


def _csv(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def demographic(tmp_path_factory):
    root = tmp_path_factory.mktemp("demographic")
    generate(PERSONS, root / "landing", root / "truth", seed=5, fault_rate=0.0, demographic_faults={"all": RATE})
    return root


def test_every_kind_is_off_unless_configured():
    assert set(demographic_rates()) == set(fault_spec()["demographic"]) == set(DEMOGRAPHIC_KINDS)
    assert all(rate == 0 for rate in demographic_rates().values())
    assert demographic_rates({"all": 0.1, "twin": 0.02})["twin"] == 0.02
    with pytest.raises(ValueError, match="unknown demographic fault kind"):
        demographic_rates({"typo_in_everything": 0.1})


def test_each_kind_appears_at_about_its_rate_and_is_logged_per_record(demographic):
    manifest = json.loads((demographic / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["demographic_faults"] == {kind: RATE for kind in DEMOGRAPHIC_KINDS}
    counts, chances = manifest["counts"]["faults"], manifest["counts"]["fault_opportunities"]
    rows = _csv(demographic / "truth" / "faults.csv")
    logged = Counter(r["kind"] for r in rows if r["kind"] in DEMOGRAPHIC_KINDS)
    assert set(logged) == set(DEMOGRAPHIC_KINDS)
    persons = {r["person_id"] for r in _csv(demographic / "truth" / "persons.csv")}
    for kind in DEMOGRAPHIC_KINDS:
        assert counts[kind] == logged[kind]
        if kind in ("twin", "household"):   # per person, logged on each of their records
            continue
        expected = RATE * chances[kind]
        assert abs(counts[kind] - expected) <= 4 * math.sqrt(expected) + 1, (kind, counts[kind], expected)
    assert all(r["effect"] == "kept" and r["local_id"] for r in rows if r["kind"] in DEMOGRAPHIC_KINDS)
    assert len(persons) == PERSONS


def _gp_records(root):
    records = {}
    for path in (root / "landing" / "gp").rglob("patient.csv"):
        for row in _csv(path):
            records[row["patient_id"]] = row
    return records


def test_the_records_carry_what_the_log_says(demographic):
    rows = [r for r in _csv(demographic / "truth" / "faults.csv") if r["source"] == "gp"]
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    gp = _gp_records(demographic)
    truth = {r["local_id"]: r["person_id"] for r in _csv(demographic / "truth" / "records.csv") if r["source"] == "gp"}
    people = {r["person_id"]: r for r in _csv(demographic / "truth" / "persons.csv")}
    for fault in by_kind["name_swap"][:20]:
        record, person = gp[fault["local_id"]], people[truth[fault["local_id"]]]
        assert (record["given_name"], record["family_name"]) == (person["family_name"], person["given_name"])
    for fault in by_kind["dob_transposed"][:20]:
        record, person = gp[fault["local_id"]], people[truth[fault["local_id"]]]
        y, m, d = person["birth_date"].split("-")
        assert record["birth_date"] == f"{y}-{d}-{m}" != person["birth_date"]
    for fault in by_kind["nhs_typo_valid"][:20]:
        record, person = gp[fault["local_id"]], people[truth[fault["local_id"]]]
        differ = sum(a != b for a, b in zip(record["nhs_number"], person["nhs_number"]))
        assert is_valid(record["nhs_number"]) and differ >= 2
    numbers = {p["nhs_number"]: pid for pid, p in people.items()}
    for fault in by_kind["nhs_other_person"][:20]:
        record = gp[fault["local_id"]]
        assert numbers[record["nhs_number"]] != truth[fault["local_id"]]
    for fault in by_kind["twin"][:20]:
        person = people[truth[fault["local_id"]]]
        other = people[fault["detail"].split()[-1]]
        assert (person["family_name"], person["birth_date"], person["postcode"]) == (
            other["family_name"], other["birth_date"], other["postcode"])
        assert person["given_name"] != other["given_name"] or person["sex"] != other["sex"]


def test_valid_nhs_typos_pass_modulus_11_and_nicknames_come_from_the_list():
    rng = np.random.default_rng(1)
    for number in ("9434765919", "9990000018", "4010232137"):
        typo = valid_nhs_typo(number, rng)
        assert typo is not None and is_valid(typo) and sum(a != b for a, b in zip(typo, number)) == 2
    assert nickname_of("William", 0) in ("Will", "Bill", "Billy")
    assert nickname_of("Tunde", 0) != "Tunde"


def test_same_arguments_same_bytes(demographic, tmp_path):
    generate(PERSONS, tmp_path / "landing", tmp_path / "truth", seed=5, fault_rate=0.0, demographic_faults={"all": RATE})
    assert (tmp_path / "truth" / "faults.csv").read_bytes() == (demographic / "truth" / "faults.csv").read_bytes()
