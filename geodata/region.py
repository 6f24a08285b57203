"""The Region: the study area with its admin units, networks, demand and sites.

Built once from sources by :func:`geodata.build.build_region`, saved to and loaded from disk by
:meth:`Region.save` / :meth:`Region.load` (GeoParquet for layers, ``.npz`` for networks, JSON for
the rest) so that the API starts in seconds.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import DataError, DataIssue
from geodata.network import Network
from geodata.population import describe_derivations
from geodata.projection import WGS84
from geodata.vocabulary import GROUP_COLUMNS, LEVEL_ORDER, straight_line_note

REGION_FORMAT_VERSION = 2
LAYER_NAMES = ("units", "demand", "sites")


@dataclass
class Region:
    """A study area ready for planning.

    Attributes
    ----------
    name
        Human name (Chinese names kept as given).
    crs
        Metric CRS used inside (UTM zone of the region).
    boundary
        Region outline, WGS-84 (Multi)Polygon.
    units
        Admin units / planning zones (see :mod:`geodata.admin`).
    demand
        Demand points: ``demand_id``, one column per group (persons), ``source_kind``,
        ``estimate``, one column per admin level with the unit id, WGS-84 geometry.
    sites
        Existing and candidate sites (see :mod:`geodata.sites`) with unit columns.
    networks
        Mode → :class:`~geodata.network.Network`.
    layers
        Extra named layers (e.g. ``incidents`` for patrol hotspots, ``buildings``).
    provenance
        ``kind`` (``"osm"`` or ``"synthetic"``), sources, estimates, parameters, build time.
    issues
        Partial problems met while building (skipped features), for the summary.
    """

    name: str
    crs: str
    boundary: shapely.Geometry
    units: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    networks: dict[str, Network]
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    issues: list[DataIssue] = field(default_factory=list)

    # ------------------------------------------------------------------ descriptions
    @property
    def is_synthetic(self) -> bool:
        """True for generated regions (never real places)."""
        return self.provenance.get("kind") == "synthetic"

    @property
    def population_is_estimate(self) -> bool:
        """True when demand was estimated (e.g. from building footprints) rather than counted."""
        return bool(self.demand["estimate"].any()) if len(self.demand) else False

    @property
    def travel(self) -> dict[str, Any]:
        """How travel costs are computed.

        ``{"kind": "network", "modes": [...]}`` for regions with road networks, or
        ``{"kind": "straight-line", "modes": [...], "detour_factor": 1.3, "speed_mps": {mode: m/s}}``
        for regions built without one (``--no-network``).
        """
        info = self.provenance.get("travel")
        if info:
            return info
        return {"kind": "network", "modes": sorted(self.networks)}

    @property
    def modes(self) -> list[str]:
        """Travel modes this region can price (``walk``, ``drive``)."""
        return sorted(set(self.networks) | set(self.travel.get("speed_mps", {})))

    def cost_kind(self, mode: str) -> str:
        """``"network"`` or ``"straight-line"`` for ``mode``; ValueError when the region has no way to price it."""
        if mode in self.networks:
            return "network"
        if mode in self.travel.get("speed_mps", {}):
            return "straight-line"
        raise ValueError(f"mode: region '{self.name}' cannot price {mode!r} travel (it has: {', '.join(self.modes) or 'nothing'})")

    def straight_line(self, mode: str) -> tuple[float, float]:
        """``(detour_factor, speed_mps)`` of the straight-line estimate for ``mode``."""
        if self.cost_kind(mode) != "straight-line":
            raise ValueError(f"region '{self.name}' prices {mode} travel on its road network, not in a straight line")
        return float(self.travel["detour_factor"]), float(self.travel["speed_mps"][mode])

    def cost_note(self, lang: str = "en") -> str | None:
        """The statement that travel times are straight-line estimates (None when every mode has a network)."""
        if self.travel.get("kind") != "straight-line":
            return None
        return straight_line_note(float(self.travel["detour_factor"]), self.travel.get("speed_mps", {}), lang)  # type: ignore[arg-type]

    @property
    def data_label(self) -> dict[str, str]:
        """A one-line statement of where the data came from, in Chinese and English, for every output.

        Built from the sources actually used: the road network (or its absence), the boundaries,
        the population and the sites; kept while those stay the same objects.
        """
        key = (id(self.units), id(self.demand), id(self.sites), id(self.networks), repr(self.provenance))
        kept = self.__dict__.get("_data_label")
        if kept is None or kept[0] != key:
            kept = (key, self._make_data_label())
            self.__dict__["_data_label"] = kept
        return dict(kept[1])

    def _make_data_label(self) -> dict[str, str]:
        note = {lang: self.cost_note(lang) for lang in ("en", "zh")}
        if self.is_synthetic:
            label = {
                "en": f"SYNTHETIC region '{self.name}' (seeded generator; not a real place)",
                "zh": f"合成区域「{self.name}」（随机生成，非真实地点）",
            }
            return {lang: text + (f"; {note[lang]}" if note[lang] and lang == "en" else f"；{note[lang]}" if note[lang] else "") for lang, text in label.items()}
        sources = self.provenance.get("sources", {})
        en: list[str] = []
        zh: list[str] = []
        net_kind = (sources.get("network") or {}).get("kind", "pbf" if self.networks else "none")
        synthetic_osm = "synthetic" in str(self.provenance.get("osm_generator") or "").lower()
        if net_kind == "pbf" and synthetic_osm:
            en.append("roads from a SYNTHETIC OpenStreetMap-format file (generated, not a real place)")
            zh.append("道路来自合成的 OpenStreetMap 格式文件（随机生成，非真实地点）")
        elif net_kind == "pbf":
            en.append("roads, buildings and places from OpenStreetMap")
            zh.append("道路、建筑与地名来自 OpenStreetMap")
        elif net_kind in ("xml", "online", "graphml"):
            en.append("roads from OpenStreetMap")
            zh.append("道路来自 OpenStreetMap")
        admin_files = [Path(a["path"]).name for a in sources.get("admin", []) if a.get("path")]
        if len(self.units) and (self.units.get("zone_kind") == "planning-zone").any():
            en.append("units are planning zones derived from OSM place names, not official boundaries"
                      if sources.get("zones", "places") == "places" else "units are H3 planning zones, not official boundaries")
            zh.append("行政单元为依据 OSM 地名划分的规划分区，并非官方边界" if sources.get("zones", "places") == "places" else "行政单元为 H3 六边形规划分区，并非官方边界")
        elif admin_files:
            en.append(f"boundaries from {', '.join(admin_files)}")
            zh.append(f"行政边界来自 {'、'.join(admin_files)}")
        if self.population_is_estimate:
            en.append("population is an ESTIMATE from building footprints, not a census")
            zh.append("人口为根据建筑轮廓推算的估计值，并非普查数据")
        else:
            pop_path = (sources.get("population") or {}).get("path")
            if pop_path:
                en.append(f"population from {Path(pop_path).name}")
                zh.append(f"人口来自 {Path(pop_path).name}")
        site_files = [Path(s["path"]).name for s in sources.get("sites", []) if s.get("path")]
        if site_files:
            en.append(f"sites from {', '.join(site_files)}")
            zh.append(f"设施点位来自 {'、'.join(site_files)}")
        if note["en"]:
            en.append(note["en"])
            zh.append(note["zh"] or "")
        return {"en": f"Region '{self.name}': " + "; ".join(en), "zh": f"区域「{self.name}」：" + "；".join(zh)}

    def units_at(self, level: str) -> gpd.GeoDataFrame:
        """The units of one level (``city``/``town``/``community``); kept after the first call
        (a region's units do not change; a new frame set on ``units`` is read afresh).  Treat
        the frame as read-only."""
        cache = self.__dict__.setdefault("_units_at", {})
        key = (level, id(self.units))
        if key not in cache:
            cache[key] = self.units[self.units["level"] == level]
        return cache[key]

    def unit_names(self, level: str) -> dict[str, str]:
        """Unit id → name of one level, kept after the first call (see :meth:`units_at`)."""
        cache = self.__dict__.setdefault("_unit_names", {})
        key = (level, id(self.units))
        if key not in cache:
            units = self.units_at(level)
            cache[key] = dict(zip(units["unit_id"].astype(str), units["name"].astype(str)))
        return cache[key]

    def area_km2(self) -> float:
        """Area of the boundary, km²."""
        return float(gpd.GeoSeries([self.boundary], crs=WGS84).to_crs(self.crs).area.iloc[0]) / 1e6

    def summary(self) -> dict[str, Any]:
        """Everything a planner first wants to know, as a JSON-friendly dictionary."""
        units = {}
        for level in LEVEL_ORDER:
            layer = self.units_at(level)
            if len(layer):
                units[level] = {"count": int(len(layer)), "names": layer["name"].tolist()[:60]}
        population = {g: round(float(self.demand[g].sum()), 1) for g in GROUP_COLUMNS if g in self.demand}
        by_town = {}
        if "town" in self.demand and len(self.units_at("town")):
            names = dict(zip(self.units["unit_id"], self.units["name"]))
            grouped = self.demand.groupby("town", dropna=False)[list(GROUP_COLUMNS)].sum()
            by_town = {names.get(k, "(outside any town)" if pd.isna(k) else str(k)): {g: round(float(v), 1) for g, v in row.items()} for k, row in grouped.iterrows()}
        sites = self.sites.groupby(["type", "status"]).size() if len(self.sites) else pd.Series(dtype=int)
        return {
            "name": self.name,
            "data": self.data_label,
            "kind": self.provenance.get("kind"),
            "crs": self.crs,
            "area_km2": round(self.area_km2(), 3),
            "bounds_wgs84": [round(float(v), 6) for v in self.boundary.bounds],
            "units": units,
            "demand_points": int(len(self.demand)),
            "population": population,
            "population_by_town": by_town,
            "population_source": sorted(set(self.demand["source_kind"])) if len(self.demand) else [],
            "population_is_estimate": self.population_is_estimate,
            "networks": {mode: net.summary() for mode, net in self.networks.items()},
            "travel": self.travel,
            "cost_note": {lang: self.cost_note(lang) for lang in ("zh", "en")} if self.cost_note() else None,
            "population_derived": {lang: describe_derivations(self.provenance.get("population", {}).get("derived_groups", []), lang)
                                   for lang in ("zh", "en")},
            "sites": {f"{t}/{s}": int(c) for (t, s), c in sites.items()},
            "layers": {k: int(len(v)) for k, v in self.layers.items()},
            "issues": [str(i) for i in self.issues],
            "provenance": {k: v for k, v in self.provenance.items() if k != "kind"},
        }

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write the region to ``directory`` atomically (a crash leaves any earlier copy intact)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".region-", dir=directory.parent))
        try:
            for layer_name in LAYER_NAMES:
                _write_layer(getattr(self, layer_name), tmp / f"{layer_name}.parquet")
            for key, frame in self.layers.items():
                _write_layer(frame, tmp / f"layer-{key}.parquet")
            for mode, net in self.networks.items():
                net.save(tmp / f"network-{mode}.npz")
            meta = {
                "format_version": REGION_FORMAT_VERSION,
                "name": self.name,
                "crs": self.crs,
                "boundary_wkt": shapely.to_wkt(self.boundary),
                "networks": sorted(self.networks),
                "layers": sorted(self.layers),
                "provenance": self.provenance,
                "issues": [i.to_dict() for i in self.issues],
            }
            (tmp / "region.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=_json_default), encoding="utf-8")
            if directory.exists():
                backup = directory.with_name(directory.name + ".old")
                shutil.rmtree(backup, ignore_errors=True)
                directory.rename(backup)
                tmp.rename(directory)
                shutil.rmtree(backup, ignore_errors=True)
            else:
                tmp.rename(directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "Region":
        """Read a region written by :meth:`save`."""
        directory = Path(directory)
        meta_path = directory / "region.json"
        if not meta_path.is_file():
            raise DataError("not a saved region (no region.json)", source=directory)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"region.json is broken: {exc}", source=meta_path) from exc
        if meta.get("format_version") != REGION_FORMAT_VERSION:
            raise DataError("saved region has an old format; rebuild it", source=directory)
        try:
            layers = {name: gpd.read_parquet(directory / f"{name}.parquet") for name in LAYER_NAMES}
            extra = {key: gpd.read_parquet(directory / f"layer-{key}.parquet") for key in meta.get("layers", [])}
        except Exception as exc:
            raise DataError(f"cannot read a region layer: {exc}", source=directory) from exc
        networks = {mode: Network.load(directory / f"network-{mode}.npz") for mode in meta["networks"]}
        return cls(
            name=meta["name"],
            crs=meta["crs"],
            boundary=shapely.from_wkt(meta["boundary_wkt"]),
            units=layers["units"],
            demand=layers["demand"],
            sites=layers["sites"],
            networks=networks,
            layers=extra,
            provenance=meta.get("provenance", {}),
            issues=[DataIssue(**i) for i in meta.get("issues", [])],
        )


def _write_layer(frame: gpd.GeoDataFrame, path: Path) -> None:
    frame = frame.copy()
    for column in frame.columns:
        if column != frame.geometry.name and frame[column].dtype == object:
            values = frame[column]
            if values.map(lambda v: isinstance(v, (dict, list))).any():
                frame[column] = values.map(lambda v: json.dumps(v, ensure_ascii=False, default=_json_default) if isinstance(v, (dict, list)) else v)
    frame.to_parquet(path, index=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray,)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
