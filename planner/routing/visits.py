"""Home-visit rounds for elders living alone (独居老人探访): who visits whom, and on which days.

Two steps:

1. :func:`assign_visitors` — a balanced assignment of elders to visitors (volunteer families,
   social workers).  It is a transportation problem solved exactly with HiGHS: minimise total
   travel time, every elder at most ``max_travel_min`` from their visitor's home, each visitor
   within a load cap that spreads elders in proportion to capacity (so loads stay even).  The
   constraint matrix is totally unimodular, so the LP optimum is integral.  Elders no visitor can
   reach (or that exceed all capacity) are reported, never silently dropped.
2. :func:`visit_calendar` — a month calendar: each elder's visits (default twice a month) are
   spread evenly over the month, on the visitor's available weekdays, at most
   ``max_visits_per_day`` per visitor and day; neighbouring elders share days.

Units: travel times seconds in, minutes in outputs; dates are calendar days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix

from planner.reasons import Reason, joined
from planner.location.mip import solve_mip
from planner.location.problem import InfeasibleProblem

if TYPE_CHECKING:
    import geopandas as gpd

    from geodata.region import Region

WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


@dataclass
class VisitAssignment:
    """Which visitor serves each elder (``-1`` = none) and why some are left out."""

    visitor: NDArray[np.int64]
    travel_min: NDArray[np.float64]
    load: NDArray[np.int64]
    cap: NDArray[np.int64]
    unassigned_reason: dict[int, Reason] = field(default_factory=dict)

    @property
    def assigned(self) -> NDArray[np.bool_]:
        """True where an elder has a visitor."""
        return self.visitor >= 0


def balanced_caps(n_elders: int, capacity: NDArray[np.int64], slack: float = 0.1) -> NDArray[np.int64]:
    """Load cap per visitor: a share of the elders in proportion to capacity, plus ``slack``.

    Never above the visitor's own capacity; at least 1 for a visitor with capacity.
    """
    capacity = np.asarray(capacity, np.int64)
    total = capacity.sum()
    if total <= 0:
        return np.zeros_like(capacity)
    fair = np.ceil(n_elders * capacity / total * (1.0 + slack)).astype(np.int64)
    return np.minimum(capacity, np.maximum(fair, (capacity > 0).astype(np.int64)))


def assign_visitors(
    pairs_visitor: NDArray[np.int64],
    pairs_elder: NDArray[np.int64],
    pairs_seconds: NDArray[np.float64],
    n_visitors: int,
    n_elders: int,
    capacity: NDArray[np.int64],
    *,
    max_travel_min: float = 30.0,
    balance_slack: float = 0.1,
    limit_reason: list[Reason] | None = None,
    time_limit: float = 60.0,
) -> VisitAssignment:
    """Balanced least-travel assignment of elders to visitors.

    Parameters
    ----------
    pairs_visitor, pairs_elder, pairs_seconds
        Sparse travel times (seconds) from visitor homes to elders (e.g. from
        :meth:`planner.travel.costs.NetworkCosts.within`).  Missing pairs are unreachable.
    capacity
        Most elders each visitor can take on.
    max_travel_min
        Nobody is assigned farther than this, minutes.
    balance_slack
        Loads are capped at the capacity-proportional share × (1 + slack); where the caps leave
        reachable elders unassigned they are relaxed to the full capacity.
    limit_reason
        Per visitor, the words for what limits them (their stated capacity, or their visiting
        days), used in the reason given to an elder nobody within reach can take.
    """
    if n_visitors == 0:
        raise ValueError("visitors: no visitors given")
    capacity = np.asarray(capacity, np.int64)
    if (capacity < 0).any():
        raise ValueError(f"visitors: capacity of visitor {int(np.flatnonzero(capacity < 0)[0])} must be ≥ 0")
    if max_travel_min <= 0:
        raise ValueError("max_travel_min must be positive (minutes)")
    ok = pairs_seconds <= max_travel_min * 60.0
    v, e, c = pairs_visitor[ok], pairs_elder[ok], pairs_seconds[ok]
    reachable = np.zeros(n_elders, bool)
    reachable[e] = True
    nobody = Reason(f"no visitor lives within {max_travel_min:g} min", f"{max_travel_min:g} 分钟路程内没有探访人员")
    reasons: dict[int, Reason] = {int(i): nobody for i in np.flatnonzero(~reachable)}
    visitor = np.full(n_elders, -1, np.int64)
    travel = np.full(n_elders, np.nan)
    caps = balanced_caps(int(reachable.sum()), capacity, balance_slack)
    if len(c):
        chosen = _transport(v, e, c, n_visitors, n_elders, caps, time_limit)
        got = np.zeros(n_elders, bool)
        got[e[chosen]] = True
        if (reachable & ~got).any() and (caps < capacity).any():
            caps = capacity.copy()
            chosen = _transport(v, e, c, n_visitors, n_elders, caps, time_limit)
        visitor[e[chosen]] = v[chosen]
        travel[e[chosen]] = c[chosen] / 60.0
    for i in np.flatnonzero(reachable & (visitor < 0)):
        near = sorted(set(v[e == i].tolist()))
        words = joined(limit_reason[k] if limit_reason else Reason("at capacity", "已满员") for k in near)
        reasons[int(i)] = Reason(f"every visitor within {max_travel_min:g} min is full: {words.en}", f"{max_travel_min:g} 分钟路程内的探访人员都已排满：{words.zh}")
    load = np.bincount(visitor[visitor >= 0], minlength=n_visitors).astype(np.int64)
    return VisitAssignment(visitor, travel, load, caps, reasons)


def _transport(v, e, c, n_visitors: int, n_elders: int, caps, time_limit: float) -> NDArray[np.bool_]:
    """Max assignments, then least travel: minimise Σ (c − M) x with each elder ≤ 1, visitor ≤ cap."""
    m = len(c)
    big = float(c.max()) * (n_elders + 1) + 1.0
    cols = np.arange(m)
    a_elder = coo_matrix((np.ones(m), (e, cols)), shape=(n_elders, m))
    a_visitor = coo_matrix((np.ones(m), (v, cols)), shape=(n_visitors, m))
    from scipy.sparse import vstack

    A = csr_matrix(vstack([a_elder, a_visitor]))
    row_upper = np.concatenate([np.ones(n_elders), caps.astype(float)])
    res = solve_mip(
        cost=c - big, col_lower=np.zeros(m), col_upper=np.ones(m), A=A,
        row_lower=np.full(n_elders + n_visitors, -np.inf), row_upper=row_upper,
        integer=np.ones(m, bool), time_limit=time_limit,
    )
    if res.x is None:
        raise InfeasibleProblem(f"visitor assignment failed ({res.status})")
    return res.x > 0.5


def month_days(year: int, month: int) -> list[dt.date]:
    """Every date of a month."""
    return [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


def visit_calendar(
    assignment: VisitAssignment,
    frequency: NDArray[np.int64],
    available_weekdays: list[set[int]],
    order_key: NDArray[np.float64],
    *,
    year: int,
    month: int,
    max_visits_per_day: int = 4,
) -> tuple[pd.DataFrame, dict[int, Reason]]:
    """Dates of every visit in a month.

    Parameters
    ----------
    frequency
        Visits each elder needs this month (default policy: 2).
    available_weekdays
        Per visitor, the weekdays (0 = Monday … 6 = Sunday) they can visit.
    order_key
        A number per elder that places neighbours next to each other (e.g. a space-filling curve
        position); elders are scheduled in this order so that neighbours share days.
    max_visits_per_day
        Most visits a visitor makes in one day.

    Returns
    -------
    (DataFrame, dict)
        Rows ``elder``, ``visitor``, ``visit`` (1..f), ``date``, ``weekday``; and the elders who
        could not get all their visits, with the reason.
    """
    if max_visits_per_day < 1:
        raise ValueError("max_visits_per_day must be at least 1")
    days = month_days(year, month)
    frequency = np.asarray(frequency, np.int64)
    if (frequency < 0).any():
        raise ValueError(f"elder {int(np.flatnonzero(frequency < 0)[0])}: visit frequency must be ≥ 0")
    if (frequency > len(days)).any():
        raise ValueError(f"elder {int(np.flatnonzero(frequency > len(days))[0])}: more visits than days in the month")
    rows: list[dict] = []
    missing: dict[int, Reason] = {}
    for vis in range(len(available_weekdays)):
        open_days = [k for k, d in enumerate(days) if d.weekday() in available_weekdays[vis]]
        mine = np.flatnonzero(assignment.visitor == vis)
        mine = mine[np.argsort(order_key[mine], kind="stable")]
        used = np.zeros(len(days), np.int64)
        for elder in mine:
            f = int(frequency[elder])
            if f == 0:
                continue
            if not open_days:
                missing[int(elder)] = "its visitor has no available weekday this month"
                continue
            chosen: list[int] = []
            for k in range(f):
                # the k-th equal part of the month; the least busy open day in it (then earliest)
                lo, hi = math.floor(k * len(days) / f), math.floor((k + 1) * len(days) / f)
                window = [d for d in open_days if lo <= d < hi and used[d] < max_visits_per_day and d not in chosen]
                if not window:
                    window = [d for d in open_days if used[d] < max_visits_per_day and d not in chosen]
                if not window:
                    break
                day = _pick_day(window, used, max_visits_per_day)
                chosen.append(day)
                used[day] += 1
            if len(chosen) < f:
                missing[int(elder)] = Reason(f"its visitor has only room for {len(chosen)} of {f} visits this month", f"其探访人员本月只排得出 {f} 次中的 {len(chosen)} 次")
            for n, day in enumerate(sorted(chosen), start=1):
                rows.append({"elder": int(elder), "visitor": vis, "visit": n, "date": days[day], "weekday": WEEKDAYS_ZH[days[day].weekday()]})
    for elder in np.flatnonzero(assignment.visitor < 0):
        if frequency[elder] > 0:
            missing[int(elder)] = assignment.unassigned_reason.get(int(elder), Reason("no visitor assigned", "未分配探访人员"))
    table = pd.DataFrame(rows, columns=["elder", "visitor", "visit", "date", "weekday"])
    return table.sort_values(["date", "visitor", "elder"]).reset_index(drop=True), missing


def _pick_day(window: list[int], used: NDArray[np.int64], max_per_day: int) -> int:
    """Fill days that already have visits (neighbours share a day) before opening a new one."""
    partly = [d for d in window if 0 < used[d] < max_per_day]
    return min(partly) if partly else min(window)


_WEEKDAY_NAMES = {
    **{str(i + 1): i for i in range(7)},
    **{name: i for i, name in enumerate(WEEKDAYS_ZH)},
    **{name: i for i, name in enumerate(("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"))},
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))},
    "周天": 6, "星期天": 6,
}


def parse_weekdays(value: object, what: str) -> set[int]:
    """``"1,3,5"`` (1 = Monday), ``"周一,周三"``, ``"Mon Wed"`` or a list → weekday numbers 0–6."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return set(range(7))
    items = value if isinstance(value, (list, tuple, set)) else str(value).replace("，", ",").replace("、", ",").replace(" ", ",").split(",")
    days = set()
    for item in items:
        text = str(item).strip().lower()
        if not text:
            continue
        if text not in _WEEKDAY_NAMES:
            raise ValueError(f"{what}: {item!r} is not a weekday (write 1–7, 周一…周日 or Mon…Sun)")
        days.add(_WEEKDAY_NAMES[text])
    if not days:
        raise ValueError(f"{what}: no weekday given")
    return days


@dataclass
class HomeVisitPlan:
    """Who visits whom and when, with the elders left out and why."""

    assignment: pd.DataFrame
    calendar: pd.DataFrame
    unserved: pd.DataFrame
    visitors: pd.DataFrame
    summary: dict


def plan_home_visits(
    travel_pairs: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
    elders: pd.DataFrame,
    visitors: pd.DataFrame,
    order_key: NDArray[np.float64],
    *,
    year: int,
    month: int,
    max_travel_min: float = 30.0,
    max_visits_per_day: int = 4,
    balance_slack: float = 0.1,
) -> HomeVisitPlan:
    """Assignment and month calendar of home visits.

    Parameters
    ----------
    travel_pairs
        ``(visitor, elder, seconds)`` travel times from visitor homes to elders' homes.
    elders
        One row per elder: ``name`` and optionally ``visits_per_month`` (default 2, the policy's
        twice a month).
    visitors
        One row per visitor: ``name``, optionally ``capacity`` (elders, default 10) and
        ``weekdays`` (default every day).
    order_key
        Per elder, a position that keeps neighbours together (e.g. a space-filling curve).
    """
    if len(visitors) == 0:
        raise ValueError("visitors: no visitors given")
    if len(elders) == 0:
        raise ValueError("elders: no elders given")
    names_v = visitors["name"].astype(str).tolist()
    names_e = elders["name"].astype(str).tolist()
    freq = pd.to_numeric(elders["visits_per_month"], errors="coerce") if "visits_per_month" in elders else pd.Series(2, index=elders.index)
    if freq.isna().any():
        raise ValueError(f"elder '{names_e[int(np.flatnonzero(freq.isna().to_numpy())[0])]}': visits_per_month must be a whole number")
    freq = freq.astype(np.int64).to_numpy()
    capacity = pd.to_numeric(visitors["capacity"], errors="coerce").fillna(10) if "capacity" in visitors else pd.Series(10, index=visitors.index)
    weekdays = [parse_weekdays(w, f"visitor '{n}' weekdays") for w, n in zip(visitors["weekdays"] if "weekdays" in visitors else [None] * len(visitors), names_v)]
    days = month_days(year, month)
    # a visitor cannot take more elders than their open days allow at the usual frequency
    typical = max(1, int(np.median(freq[freq > 0])) if (freq > 0).any() else 1)
    open_days = np.array([sum(d.weekday() in w for d in days) for w in weekdays], np.int64)
    day_room = open_days * max_visits_per_day // typical
    stated = capacity.astype(np.int64).to_numpy()
    cap = np.minimum(stated, day_room)
    limit_reason = [Reason(f"out of visiting days ({n} open days × {max_visits_per_day} visits a day ÷ {typical} visits per elder = {r} elders)",
                           f"探访日不够（{n} 个探访日 × 每天 {max_visits_per_day} 次 ÷ 每人 {typical} 次 = {r} 人）")
                    if r < c else Reason(f"at capacity ({c} elders)", f"已满员（{c} 人）") for n, r, c in zip(open_days, day_room, stated)]
    v, e, s = travel_pairs
    assignment = assign_visitors(np.asarray(v), np.asarray(e), np.asarray(s, float), len(visitors), len(elders), cap,
                                 max_travel_min=max_travel_min, balance_slack=balance_slack, limit_reason=limit_reason)
    table, missing = visit_calendar(assignment, freq, weekdays, np.asarray(order_key, float), year=year, month=month, max_visits_per_day=max_visits_per_day)
    table.insert(1, "elder_name", [names_e[i] for i in table["elder"]])
    table.insert(3, "visitor_name", [names_v[i] for i in table["visitor"]])
    assigned = pd.DataFrame({
        "elder": np.arange(len(elders)), "elder_name": names_e, "visits_per_month": freq,
        "visitor": assignment.visitor, "visitor_name": [names_v[i] if i >= 0 else None for i in assignment.visitor],
        "travel_min": np.round(assignment.travel_min, 1),
        "visits_planned": np.bincount(table["elder"].to_numpy(int), minlength=len(elders)) if len(table) else np.zeros(len(elders), int),
    })
    unserved = pd.DataFrame([{"elder": k, "elder_name": names_e[k], "reason": why.en, "reason_zh": why.zh} for k, why in sorted(missing.items())],
                            columns=["elder", "elder_name", "reason", "reason_zh"])
    load = assignment.load
    visitor_table = pd.DataFrame({
        "visitor": np.arange(len(visitors)), "name": names_v, "capacity": capacity.astype(int).to_numpy(), "cap_used": cap,
        "elders": load, "visits": np.bincount(table["visitor"].to_numpy(int), minlength=len(visitors)) if len(table) else 0,
        "weekdays": ["、".join(WEEKDAYS_ZH[d] for d in sorted(w)) for w in weekdays],
    })
    met = int((assigned["visits_planned"] >= assigned["visits_per_month"]).sum())
    summary = {
        "month": f"{year}-{month:02d}", "elders": len(elders), "visitors": len(visitors),
        "elders_with_all_visits": met, "elders_short": len(elders) - met, "visits": int(len(table)),
        "max_travel_min": round(float(np.nanmax(assignment.travel_min)), 1) if assignment.assigned.any() else None,
        "mean_travel_min": round(float(np.nanmean(assignment.travel_min)), 1) if assignment.assigned.any() else None,
        "load_min": int(load.min()), "load_max": int(load.max()),
        "travel_limit_min": max_travel_min, "max_visits_per_day": max_visits_per_day,
    }
    return HomeVisitPlan(assigned, table, unserved, visitor_table, summary)


BASE_TYPES = ("care_centre", "care_station", "flagship", "meal_hall")
"""Facility types whose existing sites can host home visitors (social workers, volunteers' base)."""


def visitor_bases(region: "Region") -> "gpd.GeoDataFrame":
    """Where home visitors are based when the user names no bases: the region's *existing* care
    facilities (never candidate sites, which are not open)."""
    sites = region.sites
    return sites[(sites["status"] == "existing") & sites["type"].isin(BASE_TYPES)][["site_id", "name", "type", "geometry"]].reset_index(drop=True)


def elders_living_alone(region: "Region", *, town: str | None = None, visits_per_month: int = 2, min_persons: float = 0.5) -> "gpd.GeoDataFrame":
    """The homes to visit: demand points (buildings) with at least ``min_persons`` elders living
    alone (``pop_alone``; an estimate where the region's population is), optionally in one
    ``town`` (unit id), each to be visited ``visits_per_month`` times."""
    demand = region.demand
    homes = demand[demand["pop_alone"] >= min_persons] if "pop_alone" in demand else demand.iloc[:0]
    if town is not None:
        homes = homes[homes.get("town") == town] if "town" in homes else homes.iloc[:0]
    return homes[["geometry"]].assign(name=homes["demand_id"].astype(str).to_numpy(), visits_per_month=int(visits_per_month)).reset_index(drop=True)


VISITOR_SPEED_MPS = 1.2
"""Visitors walk at an adult's 1.2 m/s (they travel to the elder, not the other way round)."""


def plan_home_visits_on_region(
    region: "Region",
    elders: "gpd.GeoDataFrame",
    visitors: "gpd.GeoDataFrame",
    *,
    year: int,
    month: int,
    max_travel_min: float = 30.0,
    max_visits_per_day: int = 4,
    balance_slack: float = 0.1,
) -> HomeVisitPlan:
    """:func:`plan_home_visits` with walking times on the region's walk network (WGS-84 points in)."""
    from geodata.network import spatial_order
    from geodata.vocabulary import COST_KINDS
    from planner.travel.region import points_xy, travel_engine

    region.cost_kind("walk")  # ValueError when the region can price no walking at all
    if len(visitors) == 0:
        raise ValueError("visitors: no visitors given")
    if len(elders) == 0:
        raise ValueError("elders: no elders given")
    vxy, exy = points_xy(visitors, region.crs), points_xy(elders, region.crs)
    costs = travel_engine(region, "walk", np.vstack([vxy, exy]), weight="length")
    pairs = costs.within(np.arange(len(vxy)), len(vxy) + np.arange(len(exy)), max_travel_min * 60.0 * VISITOR_SPEED_MPS)
    order = np.empty(len(exy), np.int64)
    order[spatial_order(exy)] = np.arange(len(exy))
    plan = plan_home_visits((pairs.source, pairs.target, pairs.cost / VISITOR_SPEED_MPS), elders, visitors, order.astype(float),
                            year=year, month=month, max_travel_min=max_travel_min, max_visits_per_day=max_visits_per_day, balance_slack=balance_slack)
    plan.summary["region"] = region.name
    plan.summary["data"] = region.data_label
    plan.summary["costs"] = {"kind": costs.kind, "kind_label": COST_KINDS[costs.kind]}
    return plan


def plan_region_visits(region: "Region", *, year: int, month: int, town: str | None = None, visits_per_month: int = 2, visitor_capacity: int = 25,
                       weekdays: str = "1,2,3,4,5", max_travel_min: float = 20.0, max_visits_per_day: int = 4) -> HomeVisitPlan:
    """A month of home visits to the region's (or one town's) elders living alone
    (:func:`elders_living_alone`) by visitors based at existing care facilities
    (:func:`visitor_bases`: the town's own, else the region's — ``summary["bases_note"]`` says so).

    ``visitor_capacity``: elders one visitor takes on; ``weekdays``: visiting days ("1,2,3,4,5",
    1 = Monday); ``max_travel_min``: longest walk from a base to an elder, minutes."""
    elders = elders_living_alone(region, town=town, visits_per_month=visits_per_month)
    bases = visitor_bases(region)
    note = None
    if town is not None and "town" in region.sites:
        inside = bases[bases["site_id"].isin(region.sites.loc[region.sites["town"] == town, "site_id"])].reset_index(drop=True)
        if inside.empty and not bases.empty:
            note = {"zh": f"本镇街没有现有养老服务设施，探访人员按全区 {len(bases)} 处现有设施安排",
                    "en": f"the town has no existing care facility: visitors are based at the region's {len(bases)} existing ones"}
        else:
            bases = inside
    if bases.empty:
        raise ValueError("no existing care facility in the region to base home visitors at")
    if elders.empty:
        raise ValueError(f"no elders living alone {'in this town' if town else 'in this region'}")
    visitors = bases[["name", "geometry"]].assign(capacity=int(visitor_capacity), weekdays=weekdays)
    plan = plan_home_visits_on_region(region, elders, visitors, year=year, month=month, max_travel_min=max_travel_min, max_visits_per_day=max_visits_per_day)
    plan.summary["town"] = town
    if note:
        plan.summary["bases_note"] = note
    return plan
