"""NHS Talking Therapies courses: IDS101 referrals, IDS201 sessions and IDS606 scores."""

from __future__ import annotations

import numpy as np

from ..config import params
from ..vector import add_days, between, clip_round, map_values, pick, times_of_day
from .common import (ATTENDED, Contacts, attendance, attended, by_trajectory, last_per_episode,
                     plan_contacts, trajectories)
from .context import Context, Episodes

__all__ = ["tt_episodes"]


def tt_episodes(ctx: Context, people: np.ndarray, received: np.ndarray, *, source_code: str,
                gp_ref_no: np.ndarray | int = -1, extra: bool = False, trajectory: np.ndarray | None = None,
                stepped_up: bool = False) -> Episodes:
    """Referrals received on `received`: assessment (AppType 01/03), treatment sessions (02), maybe a
    follow-up (05); PHQ-9, GAD-7 and WSAS at every attended session; discharge with an EndCode.
    Some drop out before treatment; people `stepped_up` never do, and end early (47)."""
    tt = params()["talking_therapies"]
    n, rng = len(people), ctx.rng
    ref_no = ctx.numbers.take("referral", n)
    dropout = (rng.random(n) < tt["dropout_before_treatment"]) & (not stepped_up)
    contacts, times, went = _sessions(ctx, people, ref_no, received, dropout)
    if trajectory is None:
        trajectory = trajectories(rng, tt["outcome"], tt["improve_shift_by_imd"], ctx.imd(people))
    _scores(ctx, people, ref_no, contacts, times, went, trajectory)
    last = last_per_episode(n, contacts.episode, contacts.dates)
    discharge = add_days(last, between(rng, tt["discharge_days"], n))
    ctx.out.add(
        "referrals", n, ref_no=ref_no, source="talking_therapies", provider_ods=ctx.providers.talking_therapies,
        table="IDS101Referral", person=people, service_code=tt["service"], received_date=received,
        source_code=source_code, reason=map_values(ctx.severity.complaint[people], tt["presenting_complaint"]),
        discharge_date=discharge, close_reason=_end_codes(rng, dropout, stepped_up), gp_ref_no=gp_ref_no, extra=extra,
    )
    return Episodes(ref_no, received, last, discharge, np.ones(n, bool), np.zeros(n, bool),
                    np.where(dropout, None, trajectory))


def _sessions(ctx: Context, people: np.ndarray, ref_no: np.ndarray, received: np.ndarray, dropout: np.ndarray
              ) -> tuple[Contacts, np.ndarray, np.ndarray]:
    """Record the IDS201 contacts; returns them, their times and whether each was attended."""
    tt, mh = params()["talking_therapies"], params()["mhsds"]
    n, rng = len(people), ctx.rng
    follow_up = ~dropout & (rng.random(n) < tt["follow_up_share"])
    counts = np.where(dropout, 1 + (rng.random(n) < tt["dropout_second_contact_share"]),
                      1 + between(rng, tt["treatment_sessions"], n) + follow_up)
    first = add_days(received, between(rng, tt["assessment_days"], n))
    contacts = plan_contacts(rng, first, counts, tt["gap_days"], tt["treatment_wait_days"])
    episode, position, m = contacts.episode, contacts.position, len(contacts)
    assessment = np.where(rng.random(n) < tt["assessment_and_treatment_share"], "03", "01")[episode]
    app_type = np.where(position == 0, assessment, "02")
    last_one = follow_up[episode] & (position == counts[episode] - 1) & (position > 1)
    app_type = np.where(last_one, "05", app_type).astype(object)
    mechanism = pick(rng, tt["mechanism"], m)
    dna = np.array(mh["dna_by_imd"])[ctx.imd(people)[episode] - 1] * map_values(mechanism, mh["dna_by_mechanism"], 1.0)
    attend = attendance(rng, tt["attend"], ("3", "7"), dna)
    lost = dropout[episode]
    assessed = (position[lost] == 0) & (rng.random(int(lost.sum())) < tt["dropout_assessed_share"])
    attend[lost] = np.where(assessed, "5", "3")
    times = times_of_day(rng, m, tuple(tt["time_hours"]))
    ctx.out.add(
        "contacts", m, contact_no=ctx.numbers.take("tt.contact", m), ref_no=ref_no[episode],
        source="talking_therapies", provider_ods=ctx.providers.talking_therapies, table="IDS201CareContact",
        person=people[episode], service_code=tt["service"], date=contacts.dates, time=times, mech_code=mechanism,
        attend_code=attend, app_type=app_type,
    )
    return contacts, times, np.isin(attend, ATTENDED)


def _scores(ctx: Context, people: np.ndarray, ref_no: np.ndarray, contacts: Contacts, times: np.ndarray,
            went: np.ndarray, trajectory: np.ndarray) -> None:
    """PHQ-9, GAD-7 and WSAS at every attended session, moving from baseline along the trajectory."""
    tt = params()["talking_therapies"]
    rng, n = ctx.rng, len(people)
    change = by_trajectory(rng, trajectory, tt["change"])
    seen = attended(contacts, went)
    episode = contacts.episode[seen.rows]
    progress = np.where(seen.count > 1, seen.rank / np.maximum(seen.count - 1, 1), 0.0)
    sev = ctx.severity
    measures = {
        "PHQ9": (sev.phq9[people] + rng.integers(-1, 2, n), 1.0, 27),
        "GAD7": (sev.gad7[people] + rng.integers(-1, 2, n), tt["gad_ratio"], 21),
        "WSAS": (sev.wsas[people], tt["wsas_ratio"], 40),
    }
    k = len(seen.rows)
    for measure, (base, ratio, top) in measures.items():
        value = clip_round(base[episode] + change[episode] * ratio * progress + rng.integers(-1, 2, k), 0, top)
        ctx.out.add(
            "scores", k, score_no=ctx.numbers.take("tt.score", k), ref_no=ref_no[episode],
            source="talking_therapies", provider_ods=ctx.providers.talking_therapies,
            table="IDS606CodedScoreAssessmentRefer", person=people[episode], date=contacts.dates[seen.rows],
            time=times[seen.rows], measure=measure, item=0, value=value, tool_code=tt["tool_codes"][measure],
        )


def _end_codes(rng: np.random.Generator, dropout: np.ndarray, stepped_up: bool) -> np.ndarray:
    tt = params()["talking_therapies"]
    ends, n = tt["end_codes"], len(dropout)
    early = stepped_up | (rng.random(n) < tt["early_end_share"])
    never_treated = np.where(rng.random(n) < tt["dropout_declined_share"], ends["declined"], ends["not_suitable"])
    return np.where(dropout, never_treated, np.where(early, ends["early"], ends["completed"])).astype(object)
