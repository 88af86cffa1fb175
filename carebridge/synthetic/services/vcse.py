"""Voluntary sector support: VCSE referrals, link worker contacts, plans with goals, and ONS4 /
SWEMWBS wellbeing scores."""

from __future__ import annotations

import numpy as np

from ..config import params
from ..vector import NAT, add_days, between, clip_round, explode, map_values, pick
from .common import Attended, Contacts, attended, last_per_episode, plan_contacts
from .context import Context, Episodes

__all__ = ["vcse_episodes"]


def vcse_episodes(ctx: Context, people: np.ndarray, received: np.ndarray, org: np.ndarray, *, referrer_type: str,
                  referrer_ods: np.ndarray | str | None = None, gp_ref_no: np.ndarray | int = -1,
                  extra: bool = False) -> Episodes:
    """Referrals to the VCSE organisations `org`: some declined; accepted ones get link worker
    contacts, a plan row per need domain with a goal, and ONS4 + SWEMWBS at the first and last
    attended contact; most are closed after the last contact."""
    v = params()["vcse"]
    n, rng = len(people), ctx.rng
    ref_no = ctx.numbers.take("referral", n)
    declined = rng.random(n) < v["declined_share"]
    decline_date = np.where(declined, add_days(received, between(rng, v["decline_days"], n)), NAT)
    domains = _need_domains(rng, n)
    contacts, went = _contacts(ctx, people, org, ref_no, received, declined)
    last = last_per_episode(n, contacts.episode, contacts.dates)
    closed = ~declined & ~np.isnat(last) & (rng.random(n) < v["closed_share"])
    closed_date = np.where(closed, add_days(last, between(rng, v["close_days"], n)), NAT)
    status = np.where(declined, "declined", np.where(closed, "closed", "accepted")).astype(object)
    ctx.out.add(
        "referrals", n, ref_no=ref_no, source="vcse", provider_ods=org, table="referral", person=people,
        service_code="SP", received_date=received, source_code=referrer_type, referring_ods=referrer_ods,
        reason=_join_domains(domains), rejected_date=decline_date, discharge_date=closed_date, close_reason=status,
        gp_ref_no=gp_ref_no, extra=extra,
    )
    seen = attended(contacts, went)
    _plans(ctx, people, org, ref_no, domains, contacts, seen, closed_date)
    trajectory = _wellbeing(ctx, people, org, ref_no, contacts, seen)
    end = np.where(declined, decline_date, np.where(closed, closed_date, np.where(np.isnat(last), received, last)))
    return Episodes(ref_no, received, last, end, closed, declined, trajectory)


def _contacts(ctx: Context, people: np.ndarray, org: np.ndarray, ref_no: np.ndarray, received: np.ndarray,
              declined: np.ndarray) -> tuple[Contacts, np.ndarray]:
    """Record the contacts (a link worker session first); returns them and whether each was attended."""
    v = params()["vcse"]
    n, rng = len(people), ctx.rng
    counts = np.where(declined, 0, between(rng, v["contacts"], n))
    contacts = plan_contacts(rng, add_days(received, between(rng, v["first_contact_days"], n)), counts, v["gap_days"])
    episode, m = contacts.episode, len(contacts)
    went = rng.random(m) < v["attended_share"] * np.array(v["attended_by_imd"])[ctx.imd(people)[episode] - 1]
    ctx.out.add(
        "contacts", m, contact_no=ctx.numbers.take("vcse.contact", m), ref_no=ref_no[episode], source="vcse",
        provider_ods=org[episode], table="contact", person=people[episode], service_code="SP", date=contacts.dates,
        mech_code=pick(rng, v["mode"], m), attend_code=np.where(went, "true", "false").astype(object),
        activity=np.where(contacts.position == 0, "link_worker_session", pick(rng, v["activity"], m)).astype(object),
    )
    return contacts, went


def _need_domains(rng: np.random.Generator, n: int) -> np.ndarray:
    """1-3 distinct need domains per referral (weighted sampling without replacement), as a mask."""
    w = np.array(list(params()["vcse"]["need_domains"].values()), dtype=float)
    order = np.argsort(-(rng.random((n, len(w))) ** (1.0 / w)), axis=1)
    rows, position = explode(between(rng, (1, 3), n))
    chosen = np.zeros((n, len(w)), dtype=bool)
    chosen[rows, order[rows, position]] = True
    return chosen


def _join_domains(chosen: np.ndarray) -> np.ndarray:
    """need_domains text: the chosen domains in the contract's order, `;`-separated."""
    out = np.full(len(chosen), "", dtype=object)
    for j, name in enumerate(params()["vcse"]["need_domains"]):
        out = np.where(chosen[:, j], np.where(out == "", name, out + ";" + name), out)
    return out


def _plans(ctx: Context, people: np.ndarray, org: np.ndarray, ref_no: np.ndarray, domains: np.ndarray,
           contacts: Contacts, seen: Attended, closed_date: np.ndarray) -> None:
    """One plan row (one goal) per need domain, made at the first attended contact; achieved or
    dropped when the referral closes."""
    v = params()["vcse"]
    first = seen.rows[seen.rank == 0]
    first_date = np.full(len(people), NAT)
    first_date[contacts.episode[first]] = contacts.dates[first]
    episode, domain = np.nonzero(domains & ~np.isnat(first_date)[:, None])
    k = len(episode)
    names = np.array(list(v["need_domains"]), dtype=object)[domain]
    closed = ~np.isnat(closed_date[episode])
    ctx.out.add(
        "care_plans", k, plan_no=ctx.numbers.take("vcse.plan", k), ref_no=ref_no[episode], source="vcse",
        provider_ods=org[episode], table="plan", person=people[episode], plan_code=names, crisis=False,
        created_date=first_date[episode], domain=names, goal_text=map_values(names, v["goals"]),
        plan_status=np.where(closed, pick(ctx.rng, v["plan_outcome"], k), "active").astype(object),
        status_date=closed_date[episode],
    )


def _wellbeing(ctx: Context, people: np.ndarray, org: np.ndarray, ref_no: np.ndarray, contacts: Contacts,
               seen: Attended) -> np.ndarray:
    """ONS4 (four items, anxious reversed) and SWEMWBS raw total at the first and last attended
    contact; returns each episode's trajectory by its SWEMWBS change."""
    w = params()["vcse"]["wellbeing"]
    rng, n = ctx.rng, len(people)
    taken, progress = seen.first_and_last()
    episode = contacts.episode[taken]
    ons_change = between(rng, w["ONS4"]["change"], n)
    sw_change = between(rng, w["SWEMWBS"]["change"], n)
    series = []
    for item in w["ONS4"]["items"]:
        base, sign = between(rng, w["ONS4"]["baseline"], n), 1
        if item == "anxious":  # lower is better
            base, sign = 10 - base, -1
        value = clip_round(base[episode] + sign * ons_change[episode] * progress, 0, 10)
        series.append((f"ONS4_{item.upper()}", "ONS4", item, value))
    sw_base = between(rng, w["SWEMWBS"]["baseline"], n)
    series.append(("SWEMWBS", "SWEMWBS", "total", clip_round(sw_base[episode] + sw_change[episode] * progress, 7, 35)))
    k = len(taken)
    for measure, tool, item, value in series:
        ctx.out.add(
            "scores", k, score_no=ctx.numbers.take("vcse.score", k), ref_no=ref_no[episode], source="vcse",
            provider_ods=org[episode], table="wellbeing_score", person=people[episode], date=contacts.dates[taken],
            measure=measure, item=0, value=value, tool_code=tool, source_item=item,
        )
    return np.where(sw_change >= 3, "improve", np.where(sw_change <= -3, "worse", "flat")).astype(object)
