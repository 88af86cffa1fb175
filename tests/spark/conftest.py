"""One Spark session (local[2]) for every Spark test, and the generated system's staged inputs.

The tests skip, saying why, when pyspark or a Java runtime is absent. The session comes from the
warehouse's one factory (`warehouse.engines.spark.spark_session`), as in a run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs Spark: the `spark` mark (selectable with -m spark / -m "not spark")."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.spark)


def _skip_reason() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install carebridge[spark])"
    if shutil.which("java") is None:
        return "no Java runtime on PATH (Spark needs Java 17)"
    return None


@pytest.fixture(scope="session")
def spark_available() -> None:
    """Skips, saying why, without pyspark or Java (for tests whose runs start their own session)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from carebridge.core.settings import SparkSettings
    from warehouse.engines.spark import spark_session

    yield spark_session(SparkSettings(master="local[2]", warehouse_dir=tmp_path_factory.mktemp("spark-warehouse")))


@dataclass(frozen=True)
class Inputs:
    staged: dict[str, pa.Table]
    index: object
    reference: object


@pytest.fixture(scope="session")
def staged_system(generated_system):
    from carebridge.staging import stage_landing

    return stage_landing(generated_system.landing)


@pytest.fixture(scope="session")
def mapping_inputs(generated_system, staged_system) -> Inputs:
    """The generated system staged and linked on NHS numbers (the mapping's inputs)."""
    from carebridge.core.reference import load_reference
    from carebridge.linkage import build_person_index

    return Inputs(staged=staged_system.tables, index=build_person_index(staged_system.tables),
                  reference=load_reference(generated_system.landing))


FAULTY_PERSONS = 250
FAULTY_RATE = 0.1


@pytest.fixture(scope="session")
def faulty_system(shared_build):
    """A small generated system with every fault kind (file faults and demographic faults)."""
    from carebridge.synthetic import generate

    folder = shared_build(f"spark_faulty_{FAULTY_PERSONS}_{FAULTY_RATE}", lambda f: generate(
        FAULTY_PERSONS, f / "landing", f / "truth", seed=11, fault_rate=FAULTY_RATE,
        demographic_faults={"all": FAULTY_RATE}))
    return folder / "landing"


@pytest.fixture(scope="session")
def faulty_staged(faulty_system):
    from carebridge.staging import stage_landing

    return stage_landing(faulty_system)
