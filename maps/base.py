"""Offline folium maps: local Leaflet and Font Awesome, the data drawn by planner-map.js, basemaps, GCJ-02 shift.

Folium's default page loads ten files from CDNs; offline (government networks often are) the map
stays blank.  :func:`new_map` builds a map whose page links only local copies from installed
packages (``xstatic-leaflet``, ``xstatic-font-awesome``) and this package's ``planner-map.js``;
:func:`save_map` writes the HTML with those files beside it in ``assets/`` (or links them under a
URL prefix when the API serves them).  What a map shows is data (:mod:`maps.spec`), embedded as
JSON and drawn in the browser — never text spliced into HTML or JavaScript.

Basemaps: ``"none"`` (offline default: a plain background), ``"osm"`` (OpenStreetMap tiles,
online), or a tile URL template (a city's own tile server).  A GCJ-02 basemap (``"amap"`` or
``crs="gcj02"`` with a custom URL) shifts every data layer from WGS-84 to GCJ-02 so that points
do not land 300–600 m off the streets.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element

from geodata.chinacoords import wgs84_to_gcj02
from maps.spec import MapData, MapSpec, page_title

Lang = Literal["zh", "en"]
ASSET_DIR = "assets"

PLAIN_BACKGROUND = "#f4f1ea"
"""Background of maps without a basemap."""
AMAP_TILES = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


STATIC_DIR = Path(__file__).parent / "static"
"""This package's own front-end files (planner-map.js and .css)."""


def _asset_sources() -> dict[str, Path]:
    """Installed locations of the packaged front-end files."""
    import xstatic.pkg.font_awesome as fa
    import xstatic.pkg.leaflet as lf

    return {"leaflet": Path(lf.BASE_DIR), "fontawesome": Path(fa.BASE_DIR), "planner": STATIC_DIR}


LOCAL_JS = [("leaflet", "leaflet/leaflet.js"), ("planner_map", "planner/planner-map.js")]
LOCAL_CSS = [("leaflet_css", "leaflet/leaflet.css"), ("fontawesome_css", "fontawesome/css/all.min.css"),
             ("planner_map_css", "planner/planner-map.css")]


def copy_assets(folder: str | Path) -> Path:
    """Copy Leaflet, Font Awesome (css + webfonts) and planner-map.js/.css into ``folder/assets``; returns it."""
    target = Path(folder) / ASSET_DIR
    src = _asset_sources()
    wanted = [
        (src["leaflet"] / "leaflet.js", target / "leaflet" / "leaflet.js"),
        (src["leaflet"] / "leaflet.css", target / "leaflet" / "leaflet.css"),
        (src["fontawesome"] / "css" / "all.min.css", target / "fontawesome" / "css" / "all.min.css"),
        (src["planner"] / "planner-map.js", target / "planner" / "planner-map.js"),
        (src["planner"] / "planner-map.css", target / "planner" / "planner-map.css"),
    ]
    for a, b in wanted:
        if not b.exists() or b.stat().st_size != a.stat().st_size or b.stat().st_mtime < a.stat().st_mtime:
            b.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(a, b)
    for sub, pattern in ((src["leaflet"] / "images", "*.png"), (src["fontawesome"] / "webfonts", "*.woff2")):
        dest = target / ("leaflet/images" if sub.name == "images" else "fontawesome/webfonts")
        dest.mkdir(parents=True, exist_ok=True)
        for f in sub.glob(pattern):
            if not (dest / f.name).exists():
                shutil.copyfile(f, dest / f.name)
    return target


@dataclass(frozen=True)
class Basemap:
    """What is drawn under the data: ``kind`` none/osm/amap/url, its URL, attribution and CRS."""

    kind: str = "none"
    url: str | None = None
    attribution: str | None = None
    crs: Literal["wgs84", "gcj02"] = "wgs84"

    @classmethod
    def parse(cls, value: "str | Basemap | None", crs: str | None = None) -> "Basemap":
        """``"none"``, ``"osm"``, ``"amap"`` or a tile URL with ``{z}/{x}/{y}``."""
        if isinstance(value, Basemap):
            return value
        value = (value or "none").strip()
        if value == "none":
            return cls()
        if value == "osm":
            return cls("osm", OSM_TILES, "© OpenStreetMap contributors")
        if value == "amap":
            return cls("amap", AMAP_TILES, "© 高德地图 AutoNavi", "gcj02")
        if all(k in value for k in ("{z}", "{x}", "{y}")):
            chosen = (crs or "wgs84").lower()
            if chosen not in ("wgs84", "gcj02"):
                raise ValueError(f"basemap crs must be 'wgs84' or 'gcj02', not {crs!r}")
            return cls("url", value, "custom tiles", chosen)  # type: ignore[arg-type]
        raise ValueError(f"basemap must be 'none', 'osm', 'amap' or a tile URL with {{z}}/{{x}}/{{y}}, not {value!r}")


def new_map(bounds: tuple[float, float, float, float], *, basemap: str | Basemap | None = None, print_mode: bool = False) -> tuple[folium.Map, Basemap]:
    """A folium map that loads nothing from the internet unless an online basemap is chosen.

    ``bounds`` is ``(min_lon, min_lat, max_lon, max_lat)`` in WGS-84 (shifted for GCJ-02 tiles).
    """
    base = Basemap.parse(basemap)
    m = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], zoom_start=14, tiles=None,
                   control_scale=True, prefer_canvas=False, zoom_control=not print_mode)
    _link_assets(m, ASSET_DIR)
    if base.url:
        folium.TileLayer(base.url, attr=base.attribution, name=base.kind, subdomains="1234" if base.kind == "amap" else "abc", max_zoom=19).add_to(m)
    else:
        m.get_root().header.add_child(Element(f"<style>.leaflet-container{{background:{PLAIN_BACKGROUND}!important;}}</style>"))
    if print_mode:
        m.get_root().header.add_child(Element(
            "<style>@page{size:A4;margin:8mm}.leaflet-control-layers{display:none}"
            ".planner-stop-label{font-size:15px!important}@media print{.planner-fullscreen{display:none}}</style>"))
    lo = to_display(np.array([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]), base)
    m.fit_bounds([[lo[0, 1], lo[0, 0]], [lo[1, 1], lo[1, 0]]])
    return m, base


def draw(m: folium.Map, spec: MapSpec) -> folium.Map:
    """Attach the map's data (drawn in the browser by planner-map.js) and its page title."""
    MapData(spec).add_to(m)
    m.get_root().header.add_child(page_title(spec.title or "map"))
    return m


def to_display(lonlat: np.ndarray, base: Basemap) -> np.ndarray:
    """WGS-84 lon/lat → the basemap's coordinates (GCJ-02 for Chinese tiles)."""
    lonlat = np.asarray(lonlat, float).reshape(-1, 2)
    if base.crs == "gcj02" and len(lonlat):
        lon, lat = wgs84_to_gcj02(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([lon, lat])
    return lonlat


def display_frame(frame: gpd.GeoDataFrame, base: Basemap) -> gpd.GeoDataFrame:
    """A WGS-84 frame with its geometries in the basemap's coordinates."""
    if base.crs != "gcj02" or len(frame) == 0:
        return frame
    out = frame.copy()
    out.geometry = shapely.transform(frame.geometry.to_numpy(), lambda c: to_display(c, base))
    return out


def save_map(m: folium.Map, path: str | Path, *, asset_url: str | None = None) -> Path:
    """Write the map's HTML; copy the local assets beside it (or link them under ``asset_url``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if asset_url is None:
        copy_assets(path.parent)
    path.write_text(render_html(m, asset_url or ASSET_DIR), encoding="utf-8")
    return path


def render_html(m: folium.Map, asset_url: str) -> str:
    """The map page as a string, linking the local assets under ``asset_url`` (a URL or a
    relative folder)."""
    _link_assets(m, asset_url)
    return m.get_root().render()


def _link_assets(m: folium.Map, prefix: str) -> None:
    """Point the page's scripts and styles at the local copies under ``prefix`` (never a CDN)."""
    prefix = prefix.rstrip("/")
    m.default_js = [(k, f"{prefix}/{v}") for k, v in LOCAL_JS]
    m.default_css = [(k, f"{prefix}/{v}") for k, v in LOCAL_CSS]
