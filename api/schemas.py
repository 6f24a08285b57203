"""Request bodies of the HTTP service (pydantic): every field bounded, so bad input is a 422 naming it."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FacilityType = Literal["meal_point", "meal_hall", "care_centre", "care_station", "flagship", "care_home", "other"]
Group = Literal["pop_all", "pop_60", "pop_80", "pop_alone"]
Level = Literal["town", "community"]
CLOCK_PATTERN = r"^([01]?\d|2[0-3])[:：][0-5]\d$"


class Strict(BaseModel):
    """Unknown fields are refused (a typo is an error, not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class KeyIn(Strict):
    """A new API key."""

    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "planner", "street_office", "patrol"]
    town: str | None = Field(None, max_length=200, description="street_office: the town (unit id or name) it may see")
    station: str | None = Field(None, max_length=200, description="patrol: the relief station (depot name) it plans from")


class ScenarioIn(Strict):
    """A location-allocation scenario (see planner.scenario.Scenario)."""

    name: str = Field("scenario", min_length=1, max_length=200)
    facility_type: FacilityType = "meal_point"
    model: Literal["mclp", "lscp", "pmedian", "pcenter", "attendance"] = "mclp"
    group: Group = "pop_60"
    mode: Literal["walk", "drive"] = "walk"
    standard_min: float = Field(15.0, gt=0, le=180, description="service standard, minutes of travel")
    n_new: int | None = Field(5, ge=0, le=10_000)
    budget: float | None = Field(None, gt=0, le=1e12)
    coverage_target: float | None = Field(None, gt=0, le=1)
    existing: Literal["keep", "closable", "ignore"] = "keep"
    required_sites: list[str] = Field(default_factory=list, max_length=1000)
    forbidden_sites: list[str] = Field(default_factory=list, max_length=1000)
    unit_min: dict[Level, int] = Field(default_factory=dict)
    unit_max: dict[Level, int] = Field(default_factory=dict)
    unit_min_residents: float = Field(0.0, ge=0, le=1e9)
    capacitated: bool = False
    town: str | None = Field(None, max_length=200)
    method: Literal["auto", "exact", "heuristic"] = "auto"
    time_limit: float = Field(60.0, gt=0, le=3600, description="seconds")
    allow_uncovered: bool = Field(False, description="lscp: plan for the rest when some residents are beyond every site (they are counted)")
    allow_unserved: bool = Field(False, description="capacitated: accept capacity below demand (the unserved are counted)")
    region_version: int | None = Field(None, ge=1, description="the region version to plan on (default: the latest when the scenario is stored)")


class SuggestionIn(Strict):
    """A street office's question: k more facilities in one town."""

    town: str = Field(min_length=1, max_length=200, description="unit id or name of the town")
    facility_type: FacilityType = "meal_point"
    k: int = Field(3, ge=1, le=50, description="how many new sites to suggest")
    standard_min: float = Field(10.0, gt=0, le=60)
    group: Group = "pop_60"
    upload_id: int | None = Field(None, ge=1, description="only the office's own candidates from this upload")
    lang: Literal["zh", "en"] = "zh"


class TeamIn(Strict):
    """A group of patrol teams."""

    name: str = Field("巡查队", min_length=1, max_length=100)
    count: int = Field(1, ge=1, le=20)
    mode: Literal["walk", "ebike", "van"] = "walk"
    shift_start: str = Field("20:00", pattern=CLOCK_PATTERN, description="time of day, HH:MM")
    shift_end: str = Field("02:00", pattern=CLOCK_PATTERN, description="time of day, HH:MM; before the start = next day")
    max_duration_min: float | None = Field(None, gt=0, le=1440)
    capacity: int | None = Field(None, ge=0, le=100_000)


class StopIn(Strict):
    """A stop added to one shift (e.g. a person reported sleeping rough), visited as required."""

    name: str = Field(min_length=1, max_length=200)
    lon: float = Field(ge=-180, le=180, description="longitude, degrees, in ``coords``")
    lat: float = Field(ge=-90, le=90, description="latitude, degrees, in ``coords``")
    coords: Literal["wgs84", "gcj02", "bd09"] = Field("wgs84", description="coordinate system of lon/lat (gcj02: Amap/Tencent, bd09: Baidu)")
    service_min: float = Field(10.0, gt=0, le=240, description="minutes spent at the stop")


class PatrolIn(Strict):
    """One patrol shift or campaign from a station."""

    station: str = Field(min_length=1, max_length=200, description="depot: name of a relief station or facility of the region")
    teams: list[TeamIn] = Field(min_length=1, max_length=10)
    spots: int = Field(30, ge=1, le=200, description="how many of the region's highest-priority patrol spots to visit")
    kinds: list[str] | None = Field(None, max_length=20)
    campaign: Literal["heat", "cold"] | None = None
    extra_stops: list[StopIn] = Field(default_factory=list, max_length=50, description="stops added for this shift, each visited (or the plan says why not)")
    date: dt.date | None = Field(None, description="the shift's date (YYYY-MM-DD; default today): on the print sheets and the GPX times")
    time_limit: float = Field(5.0, gt=0, le=30, description="seconds of routing search")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class VisitsIn(Strict):
    """Home-visit rounds for elders living alone in one month."""

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    town: str | None = Field(None, max_length=200, description="unit id or name of a town (a street office: its own, the default)")
    visits_per_month: int = Field(2, ge=1, le=8, description="visits each elder living alone receives (the policy: twice a month)")
    visitor_capacity: int = Field(25, ge=1, le=500, description="elders one visitor can take on")
    weekdays: str = Field("1,2,3,4,5", pattern=r"^[1-7](,[1-7]){0,6}$", description="visiting days, 1 = Monday")
    max_travel_min: float = Field(20.0, gt=0, le=90, description="longest walk from a visitor's base to an elder, minutes")
    max_visits_per_day: int = Field(4, ge=1, le=20)


class LevelIn(Strict):
    """One level of a facility hierarchy (see planner.scenario.LevelSpec)."""

    name: str = Field(min_length=1, max_length=60, description="e.g. flagship (市级龙头), town_centre (镇街示范), community_venue (村居场所)")
    site_types: list[FacilityType] = Field(min_length=1, max_length=7, description="facility types whose candidate sites may host this level")
    unit_level: Literal["city", "town", "community"]
    existing_types: list[FacilityType] | None = Field(None, max_length=7, description="types whose existing sites already are this level")
    minimum: float = Field(1.0, ge=0, le=1000, description="facilities per unit with residents of the group")
    maximum: float | None = Field(None, ge=0, le=10_000)
    standard_min: float = Field(15.0, gt=0, le=180, description="walking standard of this level, minutes")
    weight: float = Field(1.0, gt=0, le=100)
    n_new: int | None = Field(None, ge=0, le=10_000)


WORK_PLAN_LEVELS = [
    {"name": "flagship", "site_types": ["care_centre"], "unit_level": "city", "existing_types": ["flagship"], "minimum": 1, "maximum": 1,
     "standard_min": 30, "weight": 0.5},
    {"name": "town_centre", "site_types": ["care_centre"], "unit_level": "town", "minimum": 1, "standard_min": 15, "weight": 1.0},
    {"name": "community_venue", "site_types": ["meal_point", "care_centre"], "unit_level": "community", "existing_types": ["meal_point"],
     "minimum": 1, "standard_min": 8, "weight": 1.0},
]
"""The work plan's three levels: 市级有龙头 (one city flagship), 镇街有示范 (a centre per town), 村(社区)有场所 (a venue per community)."""


class HierarchyIn(Strict):
    """A hierarchy scenario: every level planned as one problem (default: the work plan's three levels)."""

    name: str = Field("三级养老服务网络", min_length=1, max_length=200)
    levels: list[LevelIn] = Field(default_factory=lambda: [LevelIn(**lv) for lv in WORK_PLAN_LEVELS], min_length=1, max_length=5)
    n_new_by_level: dict[str, int] = Field(default_factory=dict, max_length=5, description="most new facilities per level, by level name")
    group: Group = "pop_60"
    mode: Literal["walk", "drive"] = "walk"
    time_limit: float = Field(60.0, gt=0, le=3600, description="seconds")
    region_version: int | None = Field(None, ge=1)
