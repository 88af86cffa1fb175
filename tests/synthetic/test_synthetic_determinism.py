"""Same seed, same bytes; another seed, other data; a rerun replaces what an earlier run wrote."""

from __future__ import annotations

from pathlib import Path

from carebridge.synthetic import generate


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(root: Path, seed: int) -> dict[str, bytes]:
    generate(400, root / "landing", root / "truth", seed=seed, fault_rate=0.1)
    return _tree(root)


def test_same_seed_gives_byte_identical_landing_and_truth(tmp_path):
    first, second = _run(tmp_path / "a", 7), _run(tmp_path / "b", 7)
    assert first.keys() == second.keys()
    assert first == second
    assert any(name.startswith("truth/") for name in first) and any(name.startswith("landing/") for name in first)


def test_a_different_seed_gives_different_data(tmp_path):
    first, other = _run(tmp_path / "a", 7), _run(tmp_path / "b", 8)
    assert first["truth/persons.csv"] != other["truth/persons.csv"]
    assert first != other


def test_rerun_into_the_same_landing_replaces_earlier_extracts(tmp_path):
    reference = tmp_path / "same" / "landing" / "reference" / "organisations.csv"
    reference.parent.mkdir(parents=True)
    reference.write_text("ods_code,name,kind,parent_ods\n", encoding="utf-8")
    _run(tmp_path / "same", 7)
    rerun = _run(tmp_path / "same", 8)
    fresh = _run(tmp_path / "fresh", 8)
    rerun.pop("landing/reference/organisations.csv")  # a deployment's reference data is left alone
    assert rerun == fresh
