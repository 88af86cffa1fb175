"""GP practice activity: appointments, coded events (scores, diagnoses, registers, care plans)
and outbound referrals."""

from __future__ import annotations

import numpy as np

from carebridge.core.reference import codes

from ..config import params
from ..vector import NAT, add_days, between, clip_round, pick, times_of_day
from .common import attendance, plan_contacts
from .context import Context

__all__ = ["gp_appointments", "gp_events", "gp_scores", "gp_consultation", "gp_referrals", "practice_mhp",
           "gp_smi_review"]

_SERVICE_OF_ROLE = {"GP": "GP", "NURSE": "GP", "MHP": "MHP", "SPLW": "SPLW"}


def gp_appointments(ctx: Context, people: np.ndarray, dates: np.ndarray, role: str,
                    status: np.ndarray | str | None = None) -> np.ndarray:
    """Practice appointments; returns their consultation numbers. Status is sampled when not given."""
    g = params()["gp"]
    n, rng = len(people), ctx.rng
    if status is None:
        status = attendance(rng, g["status"], ("did_not_attend",), np.array(g["dna_by_imd"])[ctx.imd(people) - 1])
    consultation = ctx.numbers.take("gp.consultation", n)
    ctx.out.add(
        "contacts", n, contact_no=ctx.numbers.take("gp.appointment", n), ref_no=-1, source="gp",
        provider_ods=ctx.people.practice_ods[people], table="appointment", person=people,
        service_code=_SERVICE_OF_ROLE[role], date=dates, time=times_of_day(rng, n, g["day_hours"], g["slot_minutes"]),
        duration=between(rng, g["duration"].get(role, g["duration"]["GP"]), n),
        mech_code=pick(rng, g["mode"].get(role, g["mode"]["GP"]), n), attend_code=status, staff_role=role,
        consultation_no=consultation,
    )
    return consultation


def gp_events(ctx: Context, people: np.ndarray, dates: np.ndarray, code: np.ndarray | str, *,
              value: np.ndarray | None = None, consultation: np.ndarray | int = -1, role: str = "GP",
              measure: str | None = None) -> None:
    n = len(people)
    ctx.out.add(
        "coded_events", n, event_no=ctx.numbers.take("gp.coded_event", n), ref_no=-1, person=people,
        provider_ods=ctx.people.practice_ods[people], date=dates, code=code, value=value,
        consultation_no=consultation, staff_role=role, measure=measure,
    )


def gp_scores(ctx: Context, people: np.ndarray, dates: np.ndarray, consultation: np.ndarray, role: str) -> None:
    """PHQ-9 and GAD-7 totals recorded in the consultation, near the person's current severity."""
    n, rng = len(people), ctx.rng
    for measure, level in (("PHQ9", ctx.severity.phq9), ("GAD7", ctx.severity.gad7)):
        spec = codes()["measures"][measure]
        value = clip_round(level[people] + rng.integers(-2, 3, n), spec["min"], spec["max"])
        gp_events(ctx, people, dates, spec["snomed"][0], value=value, consultation=consultation, role=role,
                  measure=measure)


def _diagnosis_codes(rng: np.random.Generator, complaint: np.ndarray) -> np.ndarray:
    diagnosis = params()["gp"]["diagnosis"]
    out = np.empty(len(complaint), dtype=object)
    for kind in ("depression", "anxiety", "mixed"):
        options = np.atleast_1d(np.array(diagnosis[kind], dtype=object))
        rows = np.flatnonzero(complaint == kind)
        out[rows] = options[rng.integers(0, len(options), len(rows))]
    return out


def gp_consultation(ctx: Context, people: np.ndarray, dates: np.ndarray, *, role: str = "GP",
                    scores: bool = True, diagnosis: bool = True) -> np.ndarray:
    """An attended consultation, with PHQ-9/GAD-7 scores and a diagnosis code when asked."""
    consultation = gp_appointments(ctx, people, dates, role, status="attended")
    if scores:
        gp_scores(ctx, people, dates, consultation, role)
    if diagnosis:
        gp_events(ctx, people, dates, _diagnosis_codes(ctx.rng, ctx.severity.complaint[people]),
                  consultation=consultation, role=role)
    return consultation


def gp_referrals(ctx: Context, people: np.ndarray, dates: np.ndarray, kind: str, target_ods: np.ndarray | str,
                 *, extra: bool = False, always_received: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Outbound GP referrals; returns their numbers and the date the target receives each (NaT: never)."""
    g = params()["gp"]
    spec = g["referrals"][kind]
    n, rng = len(people), ctx.rng
    options = np.array(spec["codes"], dtype=object)
    ubrn = np.where(rng.random(n) < g["ubrn_share"], rng.integers(10**11, 10**12, n).astype(str), None)
    received = add_days(dates, between(rng, g["receipt_lag_days"], n))
    if not always_received:
        received[rng.random(n) < g["not_received_share"]] = NAT
    gp_ref_no = ctx.numbers.take("gp.referral", n)
    ctx.out.add(
        "gp_referrals", n, gp_ref_no=gp_ref_no, person=people, provider_ods=ctx.people.practice_ods[people],
        date=dates, code=options[rng.integers(0, len(options), n)], kind=kind, target_ods=target_ods,
        target_service=spec["service"], priority=spec["priority"], ubrn=ubrn.astype(object), extra=extra,
    )
    return gp_ref_no, received


def practice_mhp(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """A few appointments with the practice mental health practitioner; PHQ-9/GAD-7 at the first."""
    rng = ctx.rng
    contacts = plan_contacts(rng, start, between(rng, (3, 6), len(people)), (7, 21))
    who = people[contacts.episode]
    consultation = gp_appointments(ctx, who, contacts.dates, "MHP")
    first = contacts.position == 0
    gp_scores(ctx, who[first], contacts.dates[first], consultation[first], "MHP")


def gp_smi_review(ctx: Context, people: np.ndarray, dates: np.ndarray) -> None:
    """Severe mental illness register entry, diagnosis and a care plan review (some with a crisis plan)."""
    g = params()["gp"]
    rng = ctx.rng
    consultation = gp_appointments(ctx, people, dates, "GP", status="attended")
    smi = np.array(g["diagnosis"]["smi"], dtype=object)
    gp_events(ctx, people, dates, g["smi_register"], consultation=consultation)
    gp_events(ctx, people, dates, smi[rng.integers(0, len(smi), len(people))], consultation=consultation)
    gp_events(ctx, people, dates, g["care_plan"], consultation=consultation)
    crisis = rng.random(len(people)) < g["crisis_plan_share"]
    gp_events(ctx, people[crisis], dates[crisis], g["crisis_plan"], consultation=consultation[crisis])
