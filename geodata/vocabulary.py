"""Bilingual vocabulary: facility types, population groups and admin levels (中文 / English).

Codes are stable ASCII identifiers used in files, the API and the database; labels are what users
read on maps and in reports.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]

FACILITY_TYPES: dict[str, dict[str, str]] = {
    "meal_point": {"zh": "助餐配餐点", "en": "Meal point"},
    "meal_hall": {"zh": "长者饭堂", "en": "Elderly canteen"},
    "care_centre": {"zh": "居家社区养老服务中心", "en": "Community home-care centre"},
    "care_station": {"zh": "村(社区)养老服务站", "en": "Village/community care station"},
    "flagship": {"zh": "市级龙头养老服务中心", "en": "City flagship care centre"},
    "care_home": {"zh": "养老机构", "en": "Care home"},
    "rescue_station": {"zh": "救助管理站", "en": "Relief station"},
    "patrol_hotspot": {"zh": "街面巡查点", "en": "Patrol hotspot"},
    "other": {"zh": "其他设施", "en": "Other facility"},
}

SITE_STATUSES: dict[str, dict[str, str]] = {
    "existing": {"zh": "现有", "en": "Existing"},
    "candidate": {"zh": "候选", "en": "Candidate"},
}

POPULATION_GROUPS: dict[str, dict[str, str]] = {
    "pop_all": {"zh": "常住人口", "en": "All residents"},
    "pop_60": {"zh": "60岁及以上老年人", "en": "Aged 60+"},
    "pop_80": {"zh": "80岁及以上高龄老人", "en": "Aged 80+"},
    "pop_alone": {"zh": "独居老人", "en": "Elders living alone"},
}
GROUP_COLUMNS: tuple[str, ...] = tuple(POPULATION_GROUPS)

ADMIN_LEVELS: dict[str, dict[str, str]] = {
    "city": {"zh": "市", "en": "City"},
    "town": {"zh": "镇街/园区", "en": "Town / sub-district"},
    "community": {"zh": "村(社区)", "en": "Village / community"},
}
LEVEL_ORDER: tuple[str, ...] = ("city", "town", "community")

PATROL_STOP_KINDS: dict[str, dict[str, str]] = {
    "hotspot": {"zh": "求助热点", "en": "Sighting hotspot"},
    "reported": {"zh": "群众报告/临时加点", "en": "Reported / added stop"},
    "station": {"zh": "火车站/地铁站", "en": "Station"},
    "bus_station": {"zh": "汽车客运站", "en": "Bus station"},
    "subway_entrance": {"zh": "地铁出入口", "en": "Metro entrance"},
    "underpass": {"zh": "桥底/地下通道", "en": "Underpass"},
    "bridge": {"zh": "桥梁", "en": "Bridge"},
    "park": {"zh": "公园", "en": "Park"},
    "marketplace": {"zh": "市场", "en": "Market"},
    "shelter": {"zh": "避雨亭/庇护点", "en": "Shelter"},
    "place_of_worship": {"zh": "宗教场所", "en": "Place of worship"},
    "toilets": {"zh": "公共厕所", "en": "Public toilets"},
    "drinking_water": {"zh": "饮水点", "en": "Drinking water"},
    "elder_home": {"zh": "独居老人家", "en": "Home of an elder living alone"},
}

CAMPAIGN_NAMES: dict[str, dict[str, str]] = {
    "heat": {"zh": "夏日送清凉", "en": "Summer cooling campaign"},
    "cold": {"zh": "寒冬送温暖", "en": "Winter warmth campaign"},
}

TEAM_MODES: dict[str, dict[str, str]] = {
    "walk": {"zh": "步行", "en": "On foot"},
    "ebike": {"zh": "电动自行车", "en": "E-bike"},
    "van": {"zh": "救助车", "en": "Van"},
}

_LEVEL_ALIASES = {
    "city": "city", "市": "city", "地级市": "city", "prefecture": "city", "municipality": "city",
    "town": "town", "镇": "town", "街道": "town", "镇街": "town", "园区": "town", "镇街/园区": "town",
    "district": "town", "sub-district": "town", "subdistrict": "town", "township": "town", "乡": "town",
    "community": "community", "社区": "community", "村": "community", "村(社区)": "community",
    "村（社区）": "community", "village": "community", "居委会": "community", "村委会": "community",
    "neighbourhood": "community", "neighborhood": "community",
}


def normalise_level(value: object) -> str | None:
    """Map a level spelling (``"镇街"``, ``"Town"``, ``"社区"`` …) to city/town/community, or None."""
    if value is None:
        return None
    return _LEVEL_ALIASES.get(str(value).strip().lower()) or _LEVEL_ALIASES.get(str(value).strip())


_TYPE_ALIASES = {code: code for code in FACILITY_TYPES}
_TYPE_ALIASES.update({labels["zh"]: code for code, labels in FACILITY_TYPES.items()})
_TYPE_ALIASES.update({labels["en"].lower(): code for code, labels in FACILITY_TYPES.items()})
_TYPE_ALIASES.update({
    "配餐点": "meal_point", "助餐点": "meal_point", "饭堂": "meal_hall", "长者食堂": "meal_hall",
    "养老服务中心": "care_centre", "居家养老服务中心": "care_centre", "养老服务站": "care_station",
    "养老院": "care_home", "敬老院": "care_home", "救助站": "rescue_station",
})


def normalise_facility_type(value: object) -> str | None:
    """Map a facility-type spelling (code, Chinese or English label) to its code, or None."""
    if value is None:
        return None
    text = str(value).strip()
    return _TYPE_ALIASES.get(text) or _TYPE_ALIASES.get(text.lower())


_SPOT_KIND_ALIASES = {code: code for code in PATROL_STOP_KINDS}
_SPOT_KIND_ALIASES.update({labels["zh"]: code for code, labels in PATROL_STOP_KINDS.items()})
_SPOT_KIND_ALIASES.update({labels["en"].lower(): code for code, labels in PATROL_STOP_KINDS.items()})
_SPOT_KIND_ALIASES.update({
    "桥底": "underpass", "桥洞": "underpass", "地下通道": "underpass", "隧道": "underpass", "天桥": "bridge", "桥": "bridge",
    "火车站": "station", "地铁站": "station", "车站": "station", "汽车站": "bus_station", "客运站": "bus_station",
    "地铁口": "subway_entrance", "公园": "park", "广场": "park", "市场": "marketplace", "菜市场": "marketplace",
    "庇护点": "shelter", "避雨亭": "shelter", "寺庙": "place_of_worship", "教堂": "place_of_worship", "厕所": "toilets",
    "热点": "hotspot", "求助点": "hotspot", "独居老人": "elder_home",
})


def normalise_spot_kind(value: object) -> str:
    """Map a patrol-spot kind (code, Chinese or English word) to its code; unknown words become ``hotspot``."""
    if value is None or (isinstance(value, float) and value != value):
        return "hotspot"
    text = str(value).strip()
    return _SPOT_KIND_ALIASES.get(text) or _SPOT_KIND_ALIASES.get(text.lower()) or "hotspot"


def label(table: dict[str, dict[str, str]], code: str, lang: Lang = "zh") -> str:
    """The ``lang`` label of ``code`` in one of the tables above (the code itself if unknown)."""
    return table.get(code, {}).get(lang, code)


COST_KINDS: dict[str, dict[str, str]] = {
    "network": {"zh": "路网最短路径", "en": "shortest paths on the road network"},
    "straight-line": {"zh": "直线距离估算（无路网）", "en": "straight-line estimate (no road network)"},
}

COMPLIANCE_LABELS: dict[str, dict[str, str]] = {
    "met": {"zh": "达标", "en": "Met"},
    "not_met": {"zh": "未达标", "en": "Not met"},
    "exempt": {"zh": "无需设点", "en": "Exempt"},
    "none": {"zh": "无要求", "en": "No target"},
}

PLAN_STATUSES: dict[str, dict[str, str]] = {
    "existing": {"zh": "现有", "en": "Existing"},
    "new": {"zh": "新增", "en": "New"},
}


def straight_line_note(detour_factor: float, speeds_mps: dict[str, float], lang: Lang = "en") -> str:
    """The sentence every output of a region without a road network carries, in ``lang``.

    ``speeds_mps``: mode → metres per second used for the estimate.
    """
    walk, drive = speeds_mps.get("walk"), speeds_mps.get("drive")
    if lang == "zh":
        parts = ([f"步行 {walk:g} 米/秒"] if walk else []) + ([f"驾车 {drive * 3.6:.0f} 公里/小时"] if drive else [])
        return f"无路网：出行时间为直线距离 × {detour_factor:g} 的估算（{'，'.join(parts)}），并非沿道路计算"
    parts = ([f"walking {walk:g} m/s"] if walk else []) + ([f"driving {drive * 3.6:.0f} km/h"] if drive else [])
    return f"no road network: travel times are STRAIGHT-LINE ESTIMATES (distance × {detour_factor:g}, {', '.join(parts)}), not along roads"
