"""Mental health trust episodes for any team type: MHS101 referrals, MHS201 contacts, MHS606
PROMs and MHS008 care plans. Team behaviour (waits, contact counts, PROMs, plans) is params.yaml
`mhsds.teams`."""

from __future__ import annotations

import numpy as np

from carebridge.core.reference import codes

from ..config import params
from ..vector import NAT, add_days, between, clip_round, explode, map_values, pick, times_of_day
from .common import (ATTENDED, Attended, Contacts, attendance, attended, by_trajectory, last_per_episode,
                     plan_contacts, trajectories)
from .context import Context, Episodes

__all__ = ["mh_episodes"]


def mh_episodes(ctx: Context, people: np.ndarray, received: np.ndarray, team: str, *, source_code: str,
                referring_ods: np.ndarray | str | None = None, gp_ref_no: np.ndarray | int = -1,
                extra: bool = False, rejected: np.ndarray | None = None) -> Episodes:
    """Referrals to one team type received on `received`. Rejected ones (`rejected`) get a
    rejection date, some after one assessment contact; accepted ones get contacts, paired PROMs,
    care and crisis plans, and some are discharged."""
    mh = params()["mhsds"]
    spec = mh["teams"][team]
    n, rng = len(people), ctx.rng
    ref_no = ctx.numbers.take("referral", n)
    rejected = np.zeros(n, bool) if rejected is None else rejected
    reject_date = np.where(rejected, add_days(received, between(rng, mh["reject_days"], n)), NAT)
    contacts, times, went = _contacts(ctx, people, ref_no, team, received, reject_date)
    last = last_per_episode(n, contacts.episode, contacts.dates)
    discharged = ~rejected & (rng.random(n) < spec["discharge_share"])
    discharge_days = between(rng, spec.get("discharge_days", mh["discharge_days"]), n)
    discharge = np.where(discharged, add_days(last, discharge_days), NAT)
    reasons = spec["reasons"]
    reason = (np.full(n, reasons["any"], dtype=object) if "any" in reasons
              else map_values(ctx.severity.complaint[people], reasons))
    ctx.out.add(
        "referrals", n, ref_no=ref_no, source="mhsds", provider_ods=ctx.providers.trust, table="MHS101Referral",
        person=people, service_code=team, received_date=received, source_code=source_code,
        referring_ods=referring_ods, referring_professional=mh["referring_professional"].get(source_code),
        priority=spec["priority"], reason=reason, rejected_date=reject_date,
        reject_reason=np.where(rejected, pick(rng, dict.fromkeys(mh["reject_reasons"], 1), n), None),
        discharge_date=discharge,
        close_reason=np.where(discharged, pick(rng, dict.fromkeys(mh["close_reasons"], 1), n), None),
        gp_ref_no=gp_ref_no, extra=extra,
    )
    trajectory = trajectories(rng, mh["trajectory"], mh["improve_shift_by_imd"], ctx.imd(people))
    seen = attended(contacts, went & ~rejected[contacts.episode])
    _proms(ctx, spec["proms"], people, ref_no, contacts, times, trajectory, seen)
    _care_plans(ctx, spec, people, ref_no, contacts, seen)
    end = np.where(rejected, reject_date, np.where(discharged, discharge, np.where(np.isnat(last), received, last)))
    return Episodes(ref_no, received, last, end, discharged, rejected, trajectory)


def _contacts(ctx: Context, people: np.ndarray, ref_no: np.ndarray, team: str, received: np.ndarray,
              reject_date: np.ndarray) -> tuple[Contacts, np.ndarray, np.ndarray]:
    """Record the MHS201 contacts; returns them, their times and whether each was attended."""
    mh = params()["mhsds"]
    spec = mh["teams"][team]
    n, rng = len(people), ctx.rng
    rejected = ~np.isnat(reject_date)
    counts = np.where(rejected, rng.random(n) < mh["rejected_seen_share"], between(rng, spec["contacts"], n))
    wait = np.where(rejected, (reject_date - received).astype(np.int64), 0)
    first = np.where(rejected, add_days(received, (rng.random(n) * wait).astype(np.int64)),
                     add_days(received, between(rng, spec["first_contact_days"], n)))
    contacts = plan_contacts(rng, first, counts, spec["gap_days"])
    episode, m = contacts.episode, len(contacts)
    mechanism = pick(rng, spec["mechanism"], m)
    dna = np.array(mh["dna_by_imd"])[ctx.imd(people)[episode] - 1] * map_values(mechanism, mh["dna_by_mechanism"], 1.0)
    attend = np.where(rejected[episode], "5", attendance(rng, mh["attend"], ("3", "7"), dna)).astype(object)
    went = np.isin(attend, ATTENDED)
    cancelled = np.isin(attend, ["2", "4"])
    times = times_of_day(rng, m, tuple(mh["time_hours"]))
    team_no = rng.integers(1, mh["teams_per_type"] + 1, m).astype(str)
    ctx.out.add(
        "contacts", m, contact_no=ctx.numbers.take("mhsds.contact", m), ref_no=ref_no[episode], source="mhsds",
        provider_ods=ctx.providers.trust, table="MHS201CareContact", person=people[episode], service_code=team,
        date=contacts.dates, time=times, duration=np.where(went, between(rng, spec["duration"], m), None),
        mech_code=mechanism, attend_code=attend,
        cancel_date=np.where(cancelled, add_days(contacts.dates, -between(rng, mh["cancel_notice_days"], m)), NAT),
        team_local_id=np.char.add(f"{ctx.providers.trust}-{team}-T", team_no).astype(object),
        location=np.array(spec["location"], dtype=object)[rng.integers(0, len(spec["location"]), m)],
    )
    return contacts, times, went


def _proms(ctx: Context, proms: list[str], people: np.ndarray, ref_no: np.ndarray, contacts: Contacts,
           times: np.ndarray, trajectory: np.ndarray, seen: Attended) -> None:
    """Paired PROMs (first and last attended contact) for each measure the team uses; DIALOG has
    11 items, GBO 1-3 goals, each its own row."""
    spec_all = params()["mhsds"]["proms"]
    rng, n = ctx.rng, len(people)
    taken, progress = seen.first_and_last()
    episode = contacts.episode[taken]
    for measure in proms:
        spec, info = spec_all[measure], codes()["measures"][measure]
        change = by_trajectory(rng, trajectory, spec["change"])
        numbered = "items" in spec or "goals" in spec
        width = spec.get("items", 3)
        items = between(rng, spec["goals"], n) if "goals" in spec else np.full(n, spec.get("items", 1))
        base = between(rng, spec["baseline"], n * width).reshape(n, width)
        at, item = explode(items[episode])
        ep = episode[at]
        value = clip_round(base[ep, item] + change[ep] * progress[at], info["min"], info["max"])
        item_codes = np.array(info.get("items") or info["snomed"], dtype=object)
        ctx.out.add(
            "scores", len(ep), score_no=ctx.numbers.take("mhsds.score", len(ep)), ref_no=ref_no[ep], source="mhsds",
            provider_ods=ctx.providers.trust, table="MHS606CodedScoreAssessmentRefer", person=people[ep],
            date=contacts.dates[taken][at], time=times[taken][at], measure=measure,
            item=item + 1 if numbered else 0, value=value, tool_code=item_codes[item] if numbered else item_codes[0],
        )


def _care_plans(ctx: Context, spec: dict, people: np.ndarray, ref_no: np.ndarray, contacts: Contacts,
                seen: Attended) -> None:
    """A care plan at the second attended contact (updated at the last, for some); a crisis plan
    (type 12) at the first, for some."""
    mh = params()["mhsds"]
    rng = ctx.rng
    rows, rank, count = seen.rows, seen.rank, seen.count
    last = rows[(rank == count - 1) & (count > 2)]
    last_date = np.full(len(people), NAT)
    last_date[contacts.episode[last]] = contacts.dates[last]
    plans = {"care": rows[(rank == 1) & (rng.random(len(rows)) < spec["care_plan_share"])],
             "crisis": rows[(rank == 0) & (rng.random(len(rows)) < spec["crisis_plan_share"])]}
    for kind, at in plans.items():
        ep, created, k = contacts.episode[at], contacts.dates[at], len(at)
        updated = last_date[ep] if kind == "care" else np.full(k, NAT)
        updated = np.where((rng.random(k) < mh["plan_updated_share"]) & (updated > created), updated, NAT)
        ctx.out.add(
            "care_plans", k, plan_no=ctx.numbers.take("mhsds.care_plan", k), ref_no=ref_no[ep], source="mhsds",
            provider_ods=ctx.providers.trust, table="MHS008CarePlanType", person=people[ep],
            plan_code=mh["plan_types"][kind], crisis=kind == "crisis", created_date=created, last_update=updated,
            implementation_date=add_days(created, between(rng, mh["implementation_days"], k)),
        )
