"""carebridge: one view of mental health support across GP, trust, Talking Therapies and VCSE records."""

__version__ = "0.1.0"
