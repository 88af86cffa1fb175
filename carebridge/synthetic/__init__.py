"""The synthetic integrated care system: GP, mental health trust, NHS Talking Therapies and VCSE
extracts for a configurable population, with a ground truth kept apart from the landing area.

    from carebridge.synthetic import generate, default_truth_dir
    generate(2000, landing, default_truth_dir(landing), seed=42, fault_rate=0.05)

The extract layout is `data/extracts.yaml`; journeys and rates `data/params.yaml`; faults
`data/faults.yaml`; the truth files are described in TRUTH.md.
"""

from .config import extract_columns
from .generate import GenerationSummary, default_truth_dir, generate, parse_months

__all__ = ["generate", "GenerationSummary", "default_truth_dir", "parse_months", "extract_columns"]
