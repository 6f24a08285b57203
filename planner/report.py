"""A plan in the user's words: tables with Chinese or English headers, units in the headers, names not ids.

Everything here reads a plan's JSON payload (:meth:`planner.scenario.Plan.to_dict`), so the same
tables come out of a plan just solved and of a plan stored months ago (the service's Excel is
drawn from the stored snapshot, never from a new solve).

* :func:`plan_tables` — sheets ``summary``, ``sites``, ``towns``, ``communities`` (DataFrames,
  headers in ``lang``, facility types, statuses and compliance as words: 居家社区养老服务中心,
  新增, 达标);
* :func:`solver_verdict` — "proven optimal" / "within 0.8 % of the best possible" in words;
* :func:`headline` — the few figures the terminal prints after a plan.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geodata.chinacoords import from_wgs84
from geodata.vocabulary import ADMIN_LEVELS, COMPLIANCE_LABELS, FACILITY_TYPES, PLAN_STATUSES, POPULATION_GROUPS, label

COORD_LABELS = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}

_HEADERS: dict[str, dict[str, str]] = {
    "rank": {"zh": "排序", "en": "Rank"},
    "site_id": {"zh": "点位编号", "en": "Site id"},
    "name": {"zh": "名称", "en": "Name"},
    "type": {"zh": "设施类型", "en": "Facility type"},
    "plan_status": {"zh": "状态", "en": "Status"},
    "town_name": {"zh": "镇街", "en": "Town"},
    "community_name": {"zh": "村(社区)", "en": "Community"},
    "parent_name": {"zh": "所属镇街", "en": "Town"},
    "adds_persons": {"zh": "新增覆盖人数(人)", "en": "Residents added (persons)"},
    "sole_persons": {"zh": "仅由该点覆盖人数(人)", "en": "Covered by this site only (persons)"},
    "assigned_persons": {"zh": "就近服务人数(人)", "en": "Nearest for (persons)"},
    "capacity": {"zh": "容量(人)", "en": "Capacity (persons)"},
    "cost": {"zh": "成本", "en": "Cost"},
    "residents": {"zh": "服务对象人数(人)", "en": "Residents of the group (persons)"},
    "covered": {"zh": "已覆盖人数(人)", "en": "Covered (persons)"},
    "covered_share": {"zh": "覆盖率", "en": "Covered share"},
    "mean_min": {"zh": "平均用时(分钟)", "en": "Mean time (minutes)"},
    "worst_min": {"zh": "最长用时(分钟)", "en": "Longest time (minutes)"},
    "mean_m": {"zh": "平均距离(米)", "en": "Mean distance (metres)"},
    "worst_m": {"zh": "最远距离(米)", "en": "Longest distance (metres)"},
    "existing_sites": {"zh": "现有设施(个)", "en": "Existing facilities"},
    "new_sites": {"zh": "新增设施(个)", "en": "New facilities"},
    "minimum_sites": {"zh": "最低要求(个)", "en": "Minimum required"},
    "compliance": {"zh": "达标情况", "en": "Compliance"},
    "item": {"zh": "项目", "en": "Item"},
    "value": {"zh": "数值", "en": "Value"},
}


PERCENT_HEADERS = frozenset(v for key in ("covered_share",) for v in _HEADERS[key].values())
"""Headers of share columns (written as percentages in workbooks)."""


def header(key: str, lang: str) -> str:
    """Column header of ``key`` in ``lang`` (the key itself when unknown)."""
    return _HEADERS.get(key, {}).get(lang, key)


def solver_verdict(solver: dict[str, Any], lang: str = "zh") -> str:
    """The solver's account in words: proven optimal, or how far from the best possible at most."""
    if solver.get("proven_optimal"):
        return "已证明为最优方案" if lang == "zh" else "proven optimal"
    gap = solver.get("gap")
    if gap is None or not np.isfinite(gap):
        return "未能证明与最优的差距" if lang == "zh" else "no bound on the distance to the best possible"
    pct = f"{gap:.1%}" if gap >= 0.001 else f"{gap:.2%}"
    return f"与最优方案相差不超过 {pct}" if lang == "zh" else f"within {pct} of the best possible"


def _coords_columns(frame: pd.DataFrame, coords_out: list[str], lang: str) -> pd.DataFrame:
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    out = pd.DataFrame(index=frame.index)
    for system in ["wgs84", *[c for c in coords_out if c != "wgs84"]]:
        x, y = from_wgs84(lon, lat, system)
        name = COORD_LABELS[system]
        out[f"经度({name})" if lang == "zh" else f"Longitude ({name})"] = np.round(x, 6)
        out[f"纬度({name})" if lang == "zh" else f"Latitude ({name})"] = np.round(y, 6)
    return out


def sites_table(payload: dict[str, Any], lang: str = "zh", coords_out: list[str] | None = None) -> pd.DataFrame:
    """The open sites (existing kept and new), ranked, with names, words and coordinates."""
    sites = pd.DataFrame(payload["sites"])
    if sites.empty:
        return pd.DataFrame(columns=[header(k, lang) for k in ("rank", "name", "type", "plan_status")])
    out = pd.DataFrame({
        header("rank", lang): sites["rank"],
        header("site_id", lang): sites["site_id"],
        header("name", lang): sites["name"],
        header("type", lang): [label(FACILITY_TYPES, t, lang) for t in sites["type"]],  # type: ignore[arg-type]
        header("plan_status", lang): [label(PLAN_STATUSES, s, lang) for s in sites["plan_status"]],  # type: ignore[arg-type]
    })
    for key in ("town_name", "community_name"):
        if key in sites:
            out[header(key, lang)] = sites[key]
    for key in ("adds_persons", "sole_persons", "assigned_persons"):
        out[header(key, lang)] = sites[key].round(0)
    out[header("capacity", lang)] = sites["capacity"]
    out[header("cost", lang)] = sites["cost"]
    return pd.concat([out, _coords_columns(sites, coords_out or [], lang)], axis=1)


def units_table(payload: dict[str, Any], level: str | None, lang: str = "zh") -> pd.DataFrame:
    """Per town or community (``level``; None: both, with a level column): residents, coverage,
    times, facilities, minimum and compliance in words."""
    units = pd.DataFrame(payload["units"])
    if units.empty or (level is not None and level not in set(units["level"])):
        return pd.DataFrame(columns=[header("name", lang)])
    mine = (units if level is None else units[units["level"] == level]).reset_index(drop=True)
    names = dict(zip(units["unit_id"], units["name"]))
    if level is None:
        out = pd.DataFrame({("层级" if lang == "zh" else "Level"): [label(ADMIN_LEVELS, lv, lang) for lv in mine["level"]],  # type: ignore[arg-type]
                            header("name", lang): mine["name"]})
    else:
        out = pd.DataFrame({label(ADMIN_LEVELS, level, lang): mine["name"]})  # type: ignore[arg-type]
    if level is None or level == "community":
        out[header("parent_name", lang)] = [names.get(p) if lv == "community" else None for p, lv in zip(mine["parent_id"], mine["level"])]
    out[header("residents", lang)] = mine["residents"].round(0)
    out[header("covered", lang)] = mine["covered"].round(0)
    out[header("covered_share", lang)] = mine["covered_share"]
    for key in ("mean_min", "worst_min", "mean_m", "worst_m"):
        if key in mine:
            out[header(key, lang)] = mine[key]
    for key in ("existing_sites", "new_sites", "minimum_sites"):
        out[header(key, lang)] = mine[key]
    out[header("compliance", lang)] = [compliance_word(u, lang) for u in mine.to_dict("records")]
    return out


def compliance_word(unit: dict[str, Any], lang: str = "zh") -> str:
    """A unit's compliance in words: as stored (``compliance_zh``/``_en``), or from ``compliant``
    for plans stored before the words were kept."""
    stored = unit.get(f"compliance_{lang}")
    if isinstance(stored, str) and stored:
        return stored
    c = unit.get("compliant")
    code = "none" if c is None or (isinstance(c, float) and np.isnan(c)) else "met" if c else "not_met"
    return label(COMPLIANCE_LABELS, code, lang)  # type: ignore[arg-type]


def summary_items(payload: dict[str, Any], lang: str = "zh") -> list[tuple[str, str, Any]]:
    """The plan's headline as ``(key, label in lang, value)`` triples."""
    s, sc = payload["summary"], payload["scenario"]
    zh = lang == "zh"
    by_time = sc.get("standard_min") is not None
    standard = f"{sc['standard_min']:g} {'分钟' if zh else 'minutes'}" if by_time else f"{sc['standard_m']:g} {'米' if zh else 'm'}"
    mode = ("步行" if sc["mode"] == "walk" else "驾车") if zh else sc["mode"]
    costs = s.get("costs", {})
    kind = costs.get("kind_label", {}).get(lang, costs.get("kind", ""))
    note = (costs.get("note") or {}).get(lang)
    unit_word = ("分钟" if by_time else "米") if zh else ("minutes" if by_time else "metres")
    key = "min" if by_time else "m"
    items: list[tuple[str, str, Any]] = [
        ("plan", "方案名称" if zh else "Plan", sc["name"]),
        ("facility", "设施类型" if zh else "Facility type", label(FACILITY_TYPES, sc["facility_type"], lang)),  # type: ignore[arg-type]
        ("model", "模型" if zh else "Model", sc["model"]),
        ("group", "服务对象" if zh else "Served group", label(POPULATION_GROUPS, s["group"], lang)),  # type: ignore[arg-type]
        ("standard", "服务标准" if zh else "Service standard", f"{standard}（{mode}）" if zh else f"{standard} ({mode})"),
        ("costs", "出行时间计算方式" if zh else "Travel times", note or kind),
        ("residents", "服务对象总数(人)" if zh else "Residents of the group (persons)", round(float(s["residents_in_group"]))),
        ("covered", "已覆盖人数(人)" if zh else "Covered (persons)", round(float(s["covered_persons"]))),
        ("share_before", "覆盖率(规划前)" if zh else "Covered share before the plan", _percent(s.get("covered_by_existing_share"))),
        ("share_after", "覆盖率(规划后)" if zh else "Covered share with the plan", _percent(s.get("covered_share"))),
        ("mean", f"平均用时({unit_word})" if zh else f"Mean to the nearest facility ({unit_word})", s.get(f"mean_{key}_to_nearest")),
        ("worst", f"最长用时({unit_word})" if zh else f"Longest to the nearest facility ({unit_word})", s.get(f"worst_{key}_to_nearest")),
        ("existing", "保留现有设施(个)" if zh else "Existing facilities kept", s["existing_sites"]),
        ("new", "新增设施(个)" if zh else "New facilities", s["new_sites"]),
        ("candidates", "候选点位(个)" if zh else "Candidate sites considered", s["candidates_considered"]),
    ]
    for k, c in enumerate(payload.get("compliance", [])):
        target = c.get("target_zh") if zh else c.get("target")
        state = label(COMPLIANCE_LABELS, "met" if c["met"] else "not_met", lang)  # type: ignore[arg-type]
        failing = c.get("units_failing") or []
        items.append((f"target-{k}", str(target), state + ((f"（{'、'.join(failing)}）" if zh else f" ({', '.join(failing)})") if failing else "")))
    items += [
        ("verdict", "求解结果" if zh else "Solver", solver_verdict(s["solver"], lang)),
        ("solver", "求解器" if zh else "Solver method", f"{s['solver']['name']}, {s['solver']['seconds']:.2f} s"),
        ("data", "数据来源" if zh else "Data", s["data"][lang]),
    ]
    return items


def summary_rows(payload: dict[str, Any], lang: str = "zh") -> pd.DataFrame:
    """The plan's headline as (item, value) rows, in ``lang``."""
    return pd.DataFrame([(lbl, value) for _, lbl, value in summary_items(payload, lang)], columns=[header("item", lang), header("value", lang)])


HEADLINE_KEYS = ("facility", "standard", "costs", "residents", "share_before", "share_after", "existing", "new", "verdict")
"""Items the terminal prints after a plan (compliance targets are always added)."""


def headline(payload: dict[str, Any], lang: str = "en") -> list[tuple[str, str]]:
    """The (label, value) pairs the terminal prints after a plan."""
    return [(lbl, _fmt(value)) for key, lbl, value in summary_items(payload, lang) if key in HEADLINE_KEYS or key.startswith("target-")]


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _fmt(value: Any) -> str:
    if isinstance(value, float) and 0 <= value <= 1:
        return f"{value:.1%}"
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value == round(value)):
        return f"{int(value):,}"
    return str(value)


def plan_tables(payload: dict[str, Any], lang: str = "zh", coords_out: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every sheet of a plan's workbook, keyed by sheet name in ``lang``."""
    zh = lang == "zh"
    sheets = {
        ("概况" if zh else "Summary"): summary_rows(payload, lang),
        ("设施" if zh else "Sites"): sites_table(payload, lang, coords_out),
        ("镇街" if zh else "Towns"): units_table(payload, "town", lang),
    }
    communities = units_table(payload, "community", lang)
    if len(communities):
        sheets["村(社区)" if zh else "Communities"] = communities
    return sheets
