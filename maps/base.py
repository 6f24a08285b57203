"""Offline folium maps: local Leaflet/jQuery/Font Awesome, basemaps, legend, fullscreen, GCJ-02 shift.

Folium's default page loads ten files from CDNs; offline (government networks often are) the map
stays blank.  :func:`new_map` builds a map whose page links only local copies from installed
packages (``xstatic-leaflet``, ``xstatic-jquery``, ``xstatic-font-awesome``); :func:`save_map`
writes the HTML with those files beside it in ``assets/`` (or links them under a URL prefix when
the API serves them).  Bootstrap and awesome-markers are not used: icons are Font Awesome glyphs
in Leaflet ``DivIcon``s and popups are plain HTML.

Basemaps: ``"none"`` (offline default: a plain background), ``"osm"`` (OpenStreetMap tiles,
online), or a tile URL template (a city's own tile server).  A GCJ-02 basemap (``"amap"`` or
``crs="gcj02"`` with a custom URL) shifts every data layer from WGS-84 to GCJ-02 so that points
do not land 300–600 m off the streets.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from geodata.chinacoords import wgs84_to_gcj02

Lang = Literal["zh", "en"]
ASSET_DIR = "assets"

PLAIN_BACKGROUND = "#f4f1ea"
"""Background of maps without a basemap."""
FONT_STACK = "'Microsoft YaHei','PingFang SC','Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif"
"""Fonts that carry Chinese on Windows, macOS and Linux."""
AMAP_TILES = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def _asset_sources() -> dict[str, Path]:
    """Installed locations of the packaged front-end files."""
    import xstatic.pkg.font_awesome as fa
    import xstatic.pkg.jquery as jq
    import xstatic.pkg.leaflet as lf

    return {"leaflet": Path(lf.BASE_DIR), "jquery": Path(jq.BASE_DIR), "fontawesome": Path(fa.BASE_DIR)}


LOCAL_JS = [("leaflet", "leaflet/leaflet.js"), ("jquery", "jquery/jquery.min.js")]
LOCAL_CSS = [("leaflet_css", "leaflet/leaflet.css"), ("fontawesome_css", "fontawesome/css/all.min.css")]


def copy_assets(folder: str | Path) -> Path:
    """Copy Leaflet, jQuery and Font Awesome (css + webfonts) into ``folder/assets``; returns it."""
    target = Path(folder) / ASSET_DIR
    src = _asset_sources()
    wanted = [
        (src["leaflet"] / "leaflet.js", target / "leaflet" / "leaflet.js"),
        (src["leaflet"] / "leaflet.css", target / "leaflet" / "leaflet.css"),
        (src["jquery"] / "jquery.min.js", target / "jquery" / "jquery.min.js"),
        (src["fontawesome"] / "css" / "all.min.css", target / "fontawesome" / "css" / "all.min.css"),
    ]
    for a, b in wanted:
        if not b.exists() or b.stat().st_size != a.stat().st_size:
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


class Legend(MacroElement):
    """A fixed legend box (HTML rows of swatches and labels), bottom right."""

    _template = Template("""
{% macro html(this, kwargs) %}
<div class="planner-legend" style="position:absolute;z-index:9999;bottom:24px;right:10px;background:white;padding:8px 10px;
 border:1px solid #888;border-radius:4px;font-size:{{ this.font_px }}px;line-height:1.35;font-family:'Microsoft YaHei','PingFang SC','Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif;max-width:320px;">
<div style="font-weight:bold;margin-bottom:4px;">{{ this.title }}</div>
{% for swatch, text in this.rows %}<div>{{ swatch }} {{ text }}</div>{% endfor %}
</div>
{% endmacro %}
""")

    def __init__(self, title: str, rows: list[tuple[str, str]], font_px: int = 13) -> None:
        super().__init__()
        self._name = "Legend"
        self.title = html.escape(title)
        self.rows = [(swatch, html.escape(text)) for swatch, text in rows]
        self.font_px = font_px


class Fullscreen(MacroElement):
    """A small Leaflet control that toggles the browser's fullscreen mode (no plugin download)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function(){
  var C = L.Control.extend({options:{position:'topleft'}, onAdd:function(map){
    var a = L.DomUtil.create('a','leaflet-bar leaflet-control planner-fullscreen');
    a.href='#'; a.title={{ this.title|tojson }}; a.innerHTML='<i class="fa-solid fa-expand"></i>';
    a.style.cssText='display:block;width:30px;height:30px;line-height:30px;text-align:center;background:#fff;color:#000';
    L.DomEvent.on(a,'click',function(e){L.DomEvent.preventDefault(e);
      var el=map.getContainer(); if(!document.fullscreenElement){el.requestFullscreen&&el.requestFullscreen();}else{document.exitFullscreen();}});
    return a;}});
  {{ this._parent.get_name() }}.addControl(new C());
})();
{% endmacro %}
""")

    def __init__(self, title: str = "Fullscreen") -> None:
        super().__init__()
        self._name = "Fullscreen"
        self.title = title


class Title(MacroElement):
    """A title and a data note at the top of the map."""

    _template = Template("""
{% macro html(this, kwargs) %}
<div class="planner-title" style="position:absolute;z-index:9999;top:10px;left:54px;max-width:calc(100% - 400px);min-width:240px;background:rgba(255,255,255,.92);
 padding:6px 10px;border-radius:4px;font-size:{{ this.font_px }}px;line-height:1.3;font-family:'Microsoft YaHei','PingFang SC','Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif;">
<div style="font-weight:bold;font-size:1.2em;">{{ this.title }}</div><div style="color:#555;">{{ this.note }}</div>
</div>
{% endmacro %}
""")

    def __init__(self, title: str, note: str = "", font_px: int = 13) -> None:
        super().__init__()
        self._name = "Title"
        self.title = html.escape(title)
        self.note = html.escape(note)
        self.font_px = font_px


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
    m.get_root().header.add_child(Element(f"<style>.leaflet-container,.leaflet-popup-content{{font-family:{FONT_STACK};}}</style>"))
    if print_mode:
        m.get_root().header.add_child(Element(
            "<style>@page{size:A4;margin:8mm}.leaflet-control-layers{display:none}"
            ".planner-stop-label{font-size:15px!important}@media print{.planner-fullscreen{display:none}}</style>"))
    lo = to_display(np.array([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]), base)
    m.fit_bounds([[lo[0, 1], lo[0, 0]], [lo[1, 1], lo[1, 0]]])
    return m, base


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


def popup_table(rows: list[tuple[str, Any]], title: str | None = None) -> folium.Popup:
    """A popup with a small two-column table (values escaped; Chinese kept as is)."""
    body = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    head = f"<b>{html.escape(title)}</b><br>" if title else ""
    return folium.Popup(f"<div style='font-size:13px'>{head}<table>{body}</table></div>", max_width=360)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if np.isnan(value):
            return "–"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def icon(glyph: str, colour: str, *, number: int | None = None, size: int = 26, label_px: int = 12) -> folium.DivIcon:
    """A round marker with a Font Awesome glyph (or a number), in ``colour``."""
    inner = f"<b style='font-size:{label_px}px'>{number}</b>" if number is not None else f"<i class='fa-solid fa-{glyph}'></i>"
    return folium.DivIcon(
        html=(f"<div class='planner-icon planner-stop-label' style='width:{size}px;height:{size}px;border-radius:50%;background:{colour};color:white;"
              f"border:2px solid white;box-shadow:0 0 3px #333;display:flex;align-items:center;justify-content:center;font-size:{size // 2}px'>{inner}</div>"),
        icon_size=(size, size), icon_anchor=(size // 2, size // 2),
    )


def swatch(colour: str, shape: str = "circle") -> str:
    """Legend swatch HTML."""
    radius = "50%" if shape == "circle" else "2px"
    return f"<span style='display:inline-block;width:12px;height:12px;background:{colour};border-radius:{radius};border:1px solid #444'></span>"
