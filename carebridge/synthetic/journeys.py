"""Who makes which journey, and how the steps chain.

Each person gets at most one primary pathway (GP only, Talking Therapies, Talking Therapies then
step-up, CMHT, EIP) and independent extras (social prescribing, crisis, a severe mental illness
review). Shares differ by deprivation, ethnic group, sex and age (params.yaml). Episodes that come
from extras are marked `extra`, so the journey checks (synthetic/consistency.py) may drop them
where they would make referral matching ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carebridge.core.reference import codes

from .config import params
from .population import Population, age_bands
from .services import (Context, Episodes, gp_appointments, gp_consultation, gp_referrals, gp_smi_review,
                       mh_episodes, practice_mhp, tt_episodes, vcse_episodes)
from .vector import add_days, between, pick, pick_rows
from .window import Window

__all__ = ["Plan", "assign_pathways", "simulate", "PRIMARY", "EXTRA"]

PRIMARY = ("gp_only", "tt", "tt_step_up", "cmht", "eip")
EXTRA = ("social_prescribing", "crisis", "smi_background")


@dataclass(frozen=True)
class Plan:
    primary: np.ndarray                  # pathway name or "none", per person
    extra: dict[str, np.ndarray]         # extra name -> bool per person
    start: dict[str, np.ndarray]         # pathway or extra name -> start date per person


def _rate(people: Population, name: str, base: float, lo: int, hi: int, bands: np.ndarray) -> np.ndarray:
    """Per-person chance of a pathway: base x deprivation x ethnic group x sex x age multipliers."""
    p = params()["pathways"]
    rate = np.full(len(people), base)
    if name in p["imd_multiplier"]:
        rate *= np.array(p["imd_multiplier"][name])[people.imd_decile - 1]
    for key, values in (("ethnic_group_multiplier", people.ethnic_group), ("sex_multiplier", people.sex),
                        ("age_band_multiplier", bands)):
        for value, factor in p[key].get(name, {}).items():
            rate[values == value] *= factor
    eligible = (people.age >= lo) & (people.age <= hi) & np.isnat(people.registration_end)
    return np.where(eligible, rate, 0.0)


def assign_pathways(people: Population, window: Window, rng: np.random.Generator) -> Plan:
    p = params()["pathways"]
    bands = age_bands(people.age)
    rates = np.column_stack([_rate(people, name, *p["primary"][name], bands) for name in PRIMARY])
    none = np.clip(1.0 - rates.sum(axis=1), 0.0, None)
    choice = pick_rows(rng, np.column_stack([none, rates]))
    primary = np.array(("none",) + PRIMARY, dtype=object)[choice]
    extra = {name: rng.random(len(people)) < _rate(people, name, *p["extra"][name], bands) for name in EXTRA}
    first = np.maximum(people.registration_start, window.start)
    span = ((window.end - first).astype(np.int64) * p["start_span"]).clip(0)
    start = {name: add_days(first, (rng.random(len(people)) * span).astype(np.int64)) for name in PRIMARY + EXTRA}
    return Plan(primary, extra, start)


def simulate(ctx: Context) -> Plan:
    """Run every pathway; activity is recorded in ctx.out."""
    plan = assign_pathways(ctx.people, ctx.window, ctx.fork("pathways").rng)
    for name in PRIMARY:
        people = np.flatnonzero(plan.primary == name)
        _RUNNERS[name](ctx.fork(f"journey/{name}"), people, plan.start[name][people])
    for name in EXTRA:
        people = np.flatnonzero(plan.extra[name])
        _RUNNERS[name](ctx.fork(f"journey/{name}"), people, plan.start[name][people])
    return plan


# --- steps shared by several pathways ------------------------------------------------------------

def _gp_refer(ctx: Context, people: np.ndarray, dates: np.ndarray, kind: str, target: np.ndarray | str, *,
              consult: str | None = "GP", scores: bool = True, diagnosis: bool = True, extra: bool = False,
              always_received: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Consultation and) GP referral; returns the positions received, their GP referral numbers and
    the dates the target received them."""
    g = params()["gp"]
    if consult:
        gp_consultation(ctx, people, dates, role=consult, scores=scores, diagnosis=diagnosis)
    referred = add_days(dates, between(ctx.rng, g["referral_lag_days"], len(people)))
    gp_ref_no, received = gp_referrals(ctx, people, referred, kind, target, extra=extra,
                                       always_received=always_received)
    got = np.flatnonzero(~np.isnat(received))
    return got, gp_ref_no[got], received[got]


def _home_vcse(ctx: Context, people: np.ndarray) -> np.ndarray:
    """The VCSE organisation a person is referred to: mostly the one serving their PCN."""
    orgs, pcns = ctx.providers.vcse, ctx.providers.pcns
    home = np.zeros(len(people), dtype=np.int64)
    for i, pcn in enumerate(pcns):
        home[ctx.people.pcn_code[people] == pcn] = i % len(orgs)
    away = ctx.rng.random(len(people)) >= params()["vcse"]["home_organisation_share"]
    return np.array(orgs, dtype=object)[(home + away) % len(orgs)]


def _other_vcse(ctx: Context, org: np.ndarray) -> np.ndarray:
    orgs = np.array(ctx.providers.vcse, dtype=object)
    index = np.searchsorted(orgs, org)
    return orgs[(index + 1) % len(orgs)]


def _to_vcse(ctx: Context, people: np.ndarray, dates: np.ndarray, *, extra: bool = False) -> None:
    """GP social prescribing referral to a VCSE organisation, and what the VCSE does with it."""
    org = _home_vcse(ctx, people)
    got, gp_ref_no, received = _gp_refer(ctx, people, dates, "sp", org, consult=None, extra=extra)
    episodes = vcse_episodes(ctx, people[got], received, org[got], referrer_type="gp",
                             referrer_ods=ctx.people.practice_ods[people[got]], gp_ref_no=gp_ref_no, extra=extra)
    _after_vcse(ctx, people[got], org[got], episodes, extra=extra)


def _to_tt(ctx: Context, people: np.ndarray, dates: np.ndarray, *, extra: bool = False,
           trajectory: np.ndarray | None = None, stepped_up: bool = False) -> tuple[np.ndarray, Episodes]:
    """GP consultation with scores, referral to Talking Therapies, and the course that follows."""
    got, gp_ref_no, received = _gp_refer(ctx, people, dates, "tt", ctx.providers.talking_therapies,
                                         extra=extra, always_received=stepped_up)
    episodes = tt_episodes(ctx, people[got], received, source_code="A1", gp_ref_no=gp_ref_no, extra=extra,
                           trajectory=None if trajectory is None else trajectory[got], stepped_up=stepped_up)
    return people[got], episodes


def _to_cmht(ctx: Context, people: np.ndarray, dates: np.ndarray, reject_share: float) -> None:
    if len(people) == 0:  # re-referrals recurse until nobody is left
        return
    got, gp_ref_no, received = _gp_refer(ctx, people, dates, "cmht", ctx.providers.trust)
    people = people[got]
    episodes = mh_episodes(ctx, people, received, "A06", source_code="A1",
                           referring_ods=ctx.people.practice_ods[people], gp_ref_no=gp_ref_no,
                           rejected=ctx.rng.random(len(people)) < reject_share)
    _after_cmht(ctx, people, episodes)


def _after_cmht(ctx: Context, people: np.ndarray, episodes: Episodes) -> None:
    rejected = episodes.rejected
    _after_rejection(ctx, people[rejected], episodes.end[rejected])
    _after_acceptance(ctx, people[~rejected], episodes.take(~rejected))


def _after_rejection(ctx: Context, people: np.ndarray, rejected_on: np.ndarray) -> None:
    """The grey zone: re-referred, picked up by the practice MHP or a VCSE, sent to Talking Therapies, or nothing."""
    cm = params()["mhsds"]["cmht"]
    rng = ctx.rng
    choice = pick(rng, cm["after_rejection"], len(people))
    later = add_days(rejected_on, between(rng, cm["follow_up_days"], len(people)))
    again = choice == "re_referral"
    _to_cmht(ctx, people[again], add_days(rejected_on[again], between(rng, cm["re_referral_days"], int(again.sum()))),
             cm["re_referral_reject_share"])
    mhp = choice == "mhp"
    practice_mhp(ctx, people[mhp], later[mhp])
    vcse = choice == "vcse"
    _to_vcse(ctx, people[vcse], later[vcse])
    tt = choice == "tt"
    _to_tt(ctx, people[tt], later[tt])


def _after_acceptance(ctx: Context, people: np.ndarray, episodes: Episodes) -> None:
    """Crisis home treatment during the CMHT episode for some (sideways); step-down on discharge."""
    cm = params()["mhsds"]["cmht"]
    rng, trust = ctx.rng, ctx.providers.trust
    n = len(people)
    crisis = rng.random(n) < cm["crisis_sideways_share"]
    mh_episodes(ctx, people[crisis], add_days(episodes.received[crisis], between(rng, (14, 120), int(crisis.sum()))),
                "A02", source_code="J1", referring_ods=trust)
    choice = np.where(episodes.discharged, pick(rng, cm["step_down"], n), "none")
    a05 = choice == "A05"
    mh_episodes(ctx, people[a05], add_days(episodes.end[a05], between(rng, (0, 14), int(a05.sum()))), "A05",
                source_code="J1", referring_ods=trust)
    to_vcse = choice == "vcse"
    org = _home_vcse(ctx, people[to_vcse])
    vcse_episodes(ctx, people[to_vcse], add_days(episodes.end[to_vcse], between(rng, (0, 21), int(to_vcse.sum()))),
                  org, referrer_type="cmht", referrer_ods=trust)


def _after_tt(ctx: Context, people: np.ndarray, episodes: Episodes) -> None:
    """Step-down from Talking Therapies to a VCSE for some who finished and did not get worse."""
    share = params()["talking_therapies"]["step_down_vcse_share"]
    rng = ctx.rng
    down = np.isin(episodes.trajectory, ["improve", "flat"]) & (rng.random(len(people)) < share)
    vcse_episodes(ctx, people[down], add_days(episodes.end[down], between(rng, (0, 21), int(down.sum()))),
                  _home_vcse(ctx, people[down]), referrer_type="talking_therapies",
                  referrer_ods=ctx.providers.talking_therapies)


def _after_vcse(ctx: Context, people: np.ndarray, org: np.ndarray, episodes: Episodes, *, extra: bool) -> None:
    """Some accepted VCSE clients are signposted to the other organisation (sideways) or referred by
    their GP to Talking Therapies (step-up)."""
    v = params()["vcse"]
    rng = ctx.rng
    n = len(people)
    accepted = ~episodes.rejected & ~np.isnat(episodes.last_contact)
    side = accepted & (rng.random(n) < v["sideways_share"])
    signposted = add_days(episodes.received[side], between(rng, v["sideways_days"], int(side.sum())))
    vcse_episodes(ctx, people[side], signposted, _other_vcse(ctx, org[side]), referrer_type="other",
                  referrer_ods=org[side], extra=extra)
    up = accepted & ~side & (rng.random(n) < v["step_up_tt_share"])
    _to_tt(ctx, people[up], add_days(episodes.received[up], between(rng, (30, 90), int(up.sum()))), extra=extra)


# --- pathways ------------------------------------------------------------------------------------

def _gp_only(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """Consultations with scores and a diagnosis; some follow-ups, DNAs and practice MHP care."""
    g = params()["gp"]
    rng, n = ctx.rng, len(people)
    dna = rng.random(n) < g["prior_dna_share"]
    gp_appointments(ctx, people[dna], add_days(start[dna], -between(rng, (7, 21), int(dna.sum()))), "GP",
                    status="did_not_attend")
    gp_consultation(ctx, people, start)
    again = rng.random(n) < g["follow_up_consultation_share"]
    gp_consultation(ctx, people[again], add_days(start[again], between(rng, (28, 56), int(again.sum()))),
                    diagnosis=False)
    mhp = rng.random(n) < g["mhp_share_gp_only"]
    practice_mhp(ctx, people[mhp], add_days(start[mhp], between(rng, (7, 28), int(mhp.sum()))))


def _tt(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """GP -> Talking Therapies, or self-referral (B1); a few step down to a VCSE afterwards."""
    self_referred = ctx.rng.random(len(people)) < params()["talking_therapies"]["self_referral_share"]
    via_gp, episodes = _to_tt(ctx, people[~self_referred], start[~self_referred])
    _after_tt(ctx, via_gp, episodes)
    own = people[self_referred]
    _after_tt(ctx, own, tt_episodes(ctx, own, start[self_referred], source_code="B1"))


def _tt_step_up(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """Talking Therapies that does not help, then step-up to the CMHT (SourceOfReferralMH N1)."""
    cm = params()["mhsds"]["cmht"]
    rng = ctx.rng
    trajectory = pick(rng, {"flat": 0.5, "worse": 0.5}, len(people))
    people, tt = _to_tt(ctx, people, start, trajectory=trajectory, stepped_up=True)
    received = add_days(tt.last_contact, between(rng, (1, 14), len(people)))
    episodes = mh_episodes(ctx, people, received, "A06", source_code="N1",
                           referring_ods=ctx.providers.talking_therapies,
                           rejected=rng.random(len(people)) < cm["reject_share_step_up"])
    _after_cmht(ctx, people, episodes)


def _cmht(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    _to_cmht(ctx, people, start, params()["mhsds"]["cmht"]["reject_share"])


def _eip(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """Urgent GP referral to early intervention in psychosis (A14); the practice adds the person to
    its severe mental illness register some weeks later."""
    got, gp_ref_no, received = _gp_refer(ctx, people, start, "eip", ctx.providers.trust, scores=False, diagnosis=False)
    people = people[got]
    mh_episodes(ctx, people, received, "A14", source_code="A1", referring_ods=ctx.people.practice_ods[people],
                gp_ref_no=gp_ref_no)
    days = params()["mhsds"]["eip"]["smi_recorded_days"]
    gp_smi_review(ctx, people, add_days(received, between(ctx.rng, days, len(people))))


def _social_prescribing(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """Social prescribing from the GP, via the practice link worker, or by self-referral."""
    rng = ctx.rng
    route = pick(rng, params()["vcse"]["route"], len(people))
    gp = route == "gp"
    gp_consultation(ctx, people[gp], start[gp], scores=False, diagnosis=False)
    splw = route == "splw"
    gp_consultation(ctx, people[splw], start[splw], role="SPLW", scores=False, diagnosis=False)
    _to_vcse(ctx, people[~(route == "self")], start[~(route == "self")], extra=True)
    own = route == "self"
    org = _home_vcse(ctx, people[own])
    episodes = vcse_episodes(ctx, people[own], start[own], org, referrer_type="self", extra=True)
    _after_vcse(ctx, people[own], org, episodes, extra=True)


def _crisis(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """Crisis line contacts (A19), some then home treatment (A02); or home treatment directly."""
    c = params()["mhsds"]["crisis"]
    rng, trust = ctx.rng, ctx.providers.trust
    line = rng.random(len(people)) < c["crisis_line_share"]
    episodes = mh_episodes(ctx, people[line], start[line], "A19", source_code="B1", extra=True)
    then = rng.random(int(line.sum())) < c["line_then_home_treatment_share"]
    mh_episodes(ctx, people[line][then], add_days(episodes.end[then], between(rng, (0, 2), int(then.sum()))), "A02",
                source_code="P1", referring_ods=trust, extra=True)
    direct = people[~line]
    source = pick(rng, c["home_treatment_sources"], len(direct))
    for code in c["home_treatment_sources"]:
        rows = source == code
        from_practice = codes()["source_of_referral"][code]["setting"] == "primary"
        referrer = ctx.people.practice_ods[direct[rows]] if from_practice else None
        mh_episodes(ctx, direct[rows], start[~line][rows], "A02", source_code=code, referring_ods=referrer, extra=True)


def _smi_background(ctx: Context, people: np.ndarray, start: np.ndarray) -> None:
    """People on the practice's severe mental illness register, reviewed once in the window."""
    gp_smi_review(ctx, people, start)


_RUNNERS = {
    "gp_only": _gp_only, "tt": _tt, "tt_step_up": _tt_step_up, "cmht": _cmht, "eip": _eip,
    "social_prescribing": _social_prescribing, "crisis": _crisis, "smi_background": _smi_background,
}
