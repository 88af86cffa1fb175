"""Vectorised builders of service activity.

Each builder takes arrays of people (row numbers into the population) and dates, and records one
batch of activity in the logical frames: GP consultations, appointments and referrals
(`practice`), Talking Therapies courses (`talking_therapies`), trust episodes of any team type
(`trust`) and VCSE support (`vcse`). Builders return `Episodes`, so journeys can chain the next
step off the dates of the last one.
"""

from .context import Context, Episodes, Providers, Severity, make_severity
from .practice import gp_appointments, gp_consultation, gp_events, gp_referrals, gp_scores, gp_smi_review, practice_mhp
from .talking_therapies import tt_episodes
from .trust import mh_episodes
from .vcse import vcse_episodes

__all__ = ["Context", "Episodes", "Providers", "Severity", "make_severity", "gp_appointments", "gp_consultation",
           "gp_events", "gp_referrals", "gp_scores", "gp_smi_review", "practice_mhp", "tt_episodes", "mh_episodes",
           "vcse_episodes"]
