"""Column names of a bureau's tables: built-in synonyms (Chinese and English) and user mappings.

A civil-affairs spreadsheet says 常住人口, 60岁以上, 经度, 镇街 where the planner needs
``pop_all``, ``pop_60``, ``lon``, ``town``.  Every *target* below has a list of synonyms that are
recognised on their own; ``--column TARGET=SOURCE`` (:func:`parse_column_mappings`) names the
column explicitly when a file uses another word (``--column pop_all=pop``).

Matching is case-insensitive and ignores spaces, full-width brackets and the usual "(人)" unit
suffixes, so ``60岁以上（人）`` is found as ``60岁以上``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pandas as pd

from geodata.errors import DataError

COLUMN_TARGETS: dict[str, tuple[str, ...]] = {
    # population groups (persons)
    "pop_all": ("pop_all", "pop", "population", "residents", "人口", "常住人口", "总人口", "人口数", "户籍人口", "人数"),
    "pop_60": ("pop_60", "pop60", "aged_60", "60+", "60岁以上", "60岁及以上", "60周岁以上", "60周岁及以上", "老年人口", "老年人数", "老年人"),
    "pop_80": ("pop_80", "pop80", "aged_80", "80+", "80岁以上", "80岁及以上", "80周岁以上", "80周岁及以上", "高龄老人", "高龄老年人"),
    "pop_alone": ("pop_alone", "alone", "living_alone", "独居老人", "独居老年人", "独居"),
    # places
    "id": ("id", "site_id", "编号", "序号id", "点位编号"),
    "name": ("name", "名称", "站点名称", "机构名称", "设施名称", "点位名称", "title"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "town": ("town", "镇街", "街道", "镇", "镇街名称", "所属镇街", "镇街/园区", "街镇"),
    "community": ("community", "社区", "村居", "村(社区)", "村社区", "所属社区", "村", "居委会"),
    # sites
    "type": ("type", "facility_type", "设施类型", "类型"),
    "status": ("status", "状态"),
    "capacity": ("capacity", "beds", "床位", "床位数", "容量", "服务能力"),
    "cost": ("cost", "造价", "成本", "费用", "投资"),
    # patrol spots
    "kind": ("kind", "类别", "地点类型", "点位类型", "spot_type"),
    "priority": ("priority", "优先级", "重要程度"),
}
"""Target column → recognised spellings, most usual first."""

TARGET_ALIASES = {"alone": "pop_alone", "pop60": "pop_60", "pop80": "pop_80", "lng": "lon", "population": "pop_all"}
"""Short names accepted on the left of ``--column`` (``alone=独居``)."""

POPULATION_TARGETS = ("pop_all", "pop_60", "pop_80", "pop_alone")
PLACE_TARGETS = ("id", "name", "lon", "lat", "town", "community")
SITE_TARGETS = ("type", "status", "capacity", "cost")
SPOT_TARGETS = ("kind", "priority")

def _key(text: object) -> str:
    """A spelling reduced for matching: lower case, no unit suffix, no spaces/brackets/underscores."""
    value = str(text).strip().lower()
    value = re.sub(r"[（(]\s*(人|个|户|名|张|万元|元|persons?)\s*[）)]$", "", value)
    return re.sub(r"[\s_\-（）()]", "", value)


def normalise_target(target: str) -> str:
    """A target name (``pop_all``, ``alone``, ``lng`` …) to its canonical form; DataError if unknown."""
    key = str(target).strip().lower()
    key = TARGET_ALIASES.get(key, key)
    if key not in COLUMN_TARGETS:
        raise DataError(f"unknown column target {target!r}; use one of {', '.join(COLUMN_TARGETS)} (alone = pop_alone)", field="--column")
    return key


class SharedColumns(dict):
    """A ``--column`` mapping shared by several files (population table, site tables).

    Each file uses the mappings whose column it has and falls back to the synonyms for the rest;
    :meth:`check_all_used` then refuses a mapping that matched no file (a typo).
    """

    strict = False

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        super().__init__(mapping or {})
        self.used: set[str] = set()

    def check_all_used(self, files: Iterable[str]) -> None:
        """DataError naming the first mapping whose column no file had."""
        for target, column in self.items():
            if target not in self.used:
                raise DataError(f"--column {target}={column}: no input table has a column {column!r} (tables: {', '.join(files) or 'none'})",
                                field=column)


def parse_column_mappings(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["pop_all=pop", "name=机构名称"]`` (or a dict) → ``{"pop_all": "pop", "name": "机构名称"}``.

    Raises
    ------
    DataError
        An item without ``=``, an unknown target, or a target mapped twice.
    """
    if not items:
        return {}
    pairs = list(items.items()) if isinstance(items, Mapping) else []
    if not isinstance(items, Mapping):
        for item in items:
            target, sep, source = str(item).partition("=")
            if not sep or not target.strip() or not source.strip():
                raise DataError(f"--column {item!r} is not TARGET=SOURCE (e.g. pop_all=常住人口)", field="--column")
            pairs.append((target, source))
    out: dict[str, str] = {}
    for target, source in pairs:
        key = normalise_target(target)
        if key in out and out[key] != str(source).strip():
            raise DataError(f"column target {key!r} is mapped twice ({out[key]!r} and {str(source).strip()!r})", field="--column")
        out[key] = str(source).strip()
    return out


def find_target(frame: pd.DataFrame, target: str, mapping: Mapping[str, str] | None = None, *, source: str | None = None,
                strict: bool = True, used: set[str] | None = None) -> str | None:
    """The column of ``frame`` holding ``target``: the mapped one if given, else the first synonym present.

    Parameters
    ----------
    mapping
        Target → the file's column (from ``--column``).
    strict
        True: a mapped column missing from the table is an error.  False: fall back to the
        synonyms (one mapping list is shared by several files; the caller checks that each
        mapping was used somewhere, see ``used``).
    used
        Targets whose mapped column was found are added to this set.

    Raises
    ------
    DataError
        When ``strict`` and ``mapping`` names a column the table does not have (listing the
        columns it has).
    """
    mapping = mapping or {}
    if isinstance(mapping, SharedColumns):
        strict, used = False, mapping.used
    by_key: dict[str, str] = {}
    for column in frame.columns:
        by_key.setdefault(_key(column), column)
    if target in mapping:
        wanted = mapping[target]
        hit = wanted if wanted in frame.columns else by_key.get(_key(wanted))
        if hit is not None:
            if used is not None:
                used.add(target)
            return hit
        if strict:
            present = ", ".join(map(str, list(frame.columns)[:20]))
            raise DataError(f"column {wanted!r} (from --column {target}={wanted}) is not in the table; its columns are: {present}",
                            source=source, field=wanted)
    for spelling in COLUMN_TARGETS[target]:
        hit = by_key.get(_key(spelling))
        if hit is not None:
            return hit
    return None


def resolve_columns(frame: pd.DataFrame, targets: Iterable[str], mapping: Mapping[str, str] | None = None, *,
                    source: str | None = None, strict: bool = True, used: set[str] | None = None) -> dict[str, str]:
    """Target → column for every target of ``targets`` found in ``frame`` (absent ones left out)."""
    found: dict[str, str] = {}
    for target in targets:
        column = find_target(frame, target, mapping, source=source, strict=strict, used=used)
        if column is None:
            continue
        twice = [t for t, c in found.items() if c == column]
        if twice:
            raise DataError(f"column {column!r} would serve both {twice[0]} and {target}; map each to its own column with --column",
                            source=source, field=str(column))
        found[target] = column
    return found


def describe_synonyms(targets: Iterable[str]) -> str:
    """A short help text: ``pop_all (人口, 常住人口 …)`` for each target."""
    return "; ".join(f"{t} ({', '.join(COLUMN_TARGETS[t][1:4])} …)" for t in targets)
