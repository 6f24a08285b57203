"""Offline folium maps: local Leaflet and Font Awesome, the data drawn by planner-map.js, basemaps, GCJ-02 shift.

Folium's default page loads ten files from CDNs; offline (government networks often are) the map
stays blank.  :func:`new_map` builds a map whose page links only local copies from installed
packages (``xstatic-leaflet``, ``xstatic-font-awesome``) and this package's ``planner-map.js``;
:func:`save_map` writes the HTML with those files beside it in ``assets/`` (or links them under a
URL prefix when the API serves them).  What a map shows is data (:mod:`maps.spec`), embedded as
JSON and drawn in the browser — never text spliced into HTML or JavaScript.

Basemaps: the region's **offline vector basemap** (a :class:`geodata.basemap.BasemapArchive`,
drawn by protomaps-leaflet from a PMTiles archive packed into a script file, so it draws from
``file://`` as well as from the service), with OpenStreetMap, Amap and Tianditu offered in the layer
control (off; online); ``"none"`` (a plain background); or one online basemap as the only one:
``"osm"``, ``"amap"`` or a tile URL template (a city's own tile server).  A GCJ-02 basemap chosen
as the only one (``"amap"`` or ``crs="gcj02"`` with a custom URL) shifts every data layer from
WGS-84 to GCJ-02 here; chosen in the layer control, the page shifts the data itself with a grid of
offsets made here, so points do not land 300–600 m off the streets either way.
"""

from __future__ import annotations

import base64
import re
import uuid
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element

from geodata.basemap import BasemapArchive
from geodata.chinacoords import in_china, wgs84_to_gcj02
from maps.spec import MapData, MapSpec, page_title

Lang = Literal["zh", "en"]
ASSET_DIR = "assets"

PLAIN_BACKGROUND = "#f4f1ea"
"""Background of maps without a basemap."""
AMAP_TILES = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
TIANDITU_TILES = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default"
                  "&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={token}")
"""Tianditu (天地图, the national basemap; CGCS2000 ≈ WGS-84, no shift) in Web Mercator; ``vec`` streets, ``cva`` Chinese labels."""
TIANDITU_TOKEN = re.compile(r"^[0-9a-fA-F]{32}$")

BASEMAP_STYLE = {
    "land": "#f2efe9", "water": "#aad3df", "water_line": "#8cc2d6", "green": "#d8ecc4", "building": "#ddd3ca", "building_line": "#c9bcb0",
    "rail": "#868e96", "path": "#bdb3a6", "road": "#fff8dc", "road_casing": "#d6cbb6", "major_road": "#f7d27a", "major_casing": "#d1a13f",
    "outside": "#b9b2a6", "boundary": "#9c36b5", "label": "#495057", "place": "#5f3dc4", "water_label": "#1c7ed6",
    "font_family": "'WenQuanYi Zen Hei', 'Noto Sans CJK SC', 'Microsoft YaHei', 'PingFang SC', sans-serif",
}
"""Colours of the offline basemap (also read by the browser tests: ``road`` is what a street looks like)."""
GCJ_GRID_SIZE = 41
"""Offsets per side of the WGS-84 → GCJ-02 grid a page interpolates in (error under a metre over a city)."""


STATIC_DIR = Path(__file__).parent / "static"
"""This package's own front-end files (planner-map.js and .css)."""


def _asset_sources() -> dict[str, Path]:
    """Installed locations of the packaged front-end files."""
    import xstatic.pkg.font_awesome as fa
    import xstatic.pkg.leaflet as lf

    return {"leaflet": Path(lf.BASE_DIR), "fontawesome": Path(fa.BASE_DIR), "planner": STATIC_DIR}


LOCAL_JS = [("leaflet", "leaflet/leaflet.js"), ("pmtiles", "planner/vendor/pmtiles.js"), ("protomaps_leaflet", "planner/vendor/protomaps-leaflet.js"),
            ("planner_map", "planner/planner-map.js")]
VENDOR_FILES = ("pmtiles.js", "protomaps-leaflet.js", "LICENSE-pmtiles", "LICENSE-protomaps-leaflet", "VENDOR.json")
"""Vendored npm files (pinned in maps/static/vendor/VENDOR.json), copied beside every map with their licences."""
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
        *((src["planner"] / "vendor" / name, target / "planner" / "vendor" / name) for name in VENDOR_FILES),
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
    """What is drawn under the data.

    ``kind``: ``"offline"`` (the region's vector basemap ``archive``, online ones offered beside it),
    ``"none"``, ``"osm"``, ``"amap"`` or ``"url"``; ``url``/``attribution``/``crs`` of a single
    online basemap; ``tianditu_token`` adds Tianditu to the online offer."""

    kind: str = "none"
    url: str | None = None
    attribution: str | None = None
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    archive: BasemapArchive | None = field(default=None, compare=False)
    tianditu_token: str | None = None

    @classmethod
    def offline(cls, archive: BasemapArchive, *, tianditu_token: str | None = None) -> "Basemap":
        """The region's offline vector basemap, with OSM, Amap (and Tianditu, given a token) offered online."""
        if tianditu_token is not None and not TIANDITU_TOKEN.match(tianditu_token):
            raise ValueError("a Tianditu token is 32 hexadecimal characters (天地图 key)")
        return cls("offline", archive=archive, tianditu_token=tianditu_token)

    @classmethod
    def parse(cls, value: "str | Basemap | BasemapArchive | None", crs: str | None = None) -> "Basemap":
        """A :class:`BasemapArchive` (offline), ``"none"``, ``"osm"``, ``"amap"`` or a tile URL with ``{z}/{x}/{y}``."""
        if isinstance(value, Basemap):
            return value
        if isinstance(value, BasemapArchive):
            return cls.offline(value)
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
        raise ValueError(f"basemap must be an offline basemap, 'none', 'osm', 'amap' or a tile URL with {{z}}/{{x}}/{{y}}, not {value!r}")

    @property
    def script_id(self) -> str | None:
        """Name of the script file that carries the offline archive (None without one)."""
        return f"basemap-{self.archive.digest[:16]}" if self.archive is not None else None


BASE_TEXT = {
    "offline": {"zh": "离线底图（本区域 OSM 数据）", "en": "Offline basemap (this region's OSM data)"},
    "osm": {"zh": "OpenStreetMap（联网）", "en": "OpenStreetMap (online)"},
    "amap": {"zh": "高德地图（联网，GCJ-02）", "en": "Amap (online, GCJ-02)"},
    "tianditu": {"zh": "天地图（联网）", "en": "Tianditu (online)"},
    "unreachable": {"zh": "在线底图无法加载（网络不通？）", "en": "Online basemap unreachable (offline?)"},
    "missing": {"zh": "离线底图文件缺失（assets/basemaps）", "en": "Offline basemap file missing (assets/basemaps)"},
    "tiled_hidden": {"zh": "高德底图下不显示分块的需求点（坐标系不同）", "en": "Tiled demand points are not drawn over GCJ-02 tiles"},
}


def base_json(base: Basemap, bounds: tuple[float, float, float, float], lang: Lang, *, hide_places: bool = False) -> dict | None:
    """What a page needs to draw its basemaps (see planner-map.js), or None for a single online or
    no basemap (drawn by folium as before).  ``hide_places``: the map labels its units itself."""
    if base.kind != "offline" or base.archive is None:
        return None
    online = [{"name": BASE_TEXT["osm"][lang], "url": OSM_TILES, "attribution": "© OpenStreetMap contributors", "crs": "wgs84", "subdomains": "abc"},
              {"name": BASE_TEXT["amap"][lang], "url": AMAP_TILES, "attribution": "© 高德地图 AutoNavi", "crs": "gcj02", "subdomains": "1234"}]
    if base.tianditu_token:
        online.append({"name": BASE_TEXT["tianditu"][lang], "url": TIANDITU_TILES.format(layer="vec", token=base.tianditu_token, s="{s}", x="{x}", y="{y}", z="{z}"),
                       "overlay_url": TIANDITU_TILES.format(layer="cva", token=base.tianditu_token, s="{s}", x="{x}", y="{y}", z="{z}"),
                       "attribution": "© 天地图 Tianditu", "crs": "wgs84", "subdomains": "01234567"})
    return {"offline": {"id": base.script_id, "name": BASE_TEXT["offline"][lang], "max_zoom": base.archive.max_zoom,
                        "attribution": "© OpenStreetMap contributors", "outline": base.archive.outline},
            "online": online, "style": BASEMAP_STYLE, "gcj": gcj_grid(bounds), "data_crs": "wgs84", "hide_places": hide_places,
            "unreachable": BASE_TEXT["unreachable"][lang], "missing": BASE_TEXT["missing"][lang], "tiled_hidden": BASE_TEXT["tiled_hidden"][lang]}


def gcj_grid(bounds: tuple[float, float, float, float], size: int = GCJ_GRID_SIZE) -> dict | None:
    """WGS-84 → GCJ-02 offsets (degrees) on a ``size`` × ``size`` grid over ``bounds`` widened by a
    fifth, row-major from the south-west; None outside China (where the offset is zero)."""
    w, s, e, n = bounds
    pad_x, pad_y = (e - w) * 0.2 + 1e-3, (n - s) * 0.2 + 1e-3
    w, s, e, n = w - pad_x, s - pad_y, e + pad_x, n + pad_y
    lon, lat = np.meshgrid(np.linspace(w, e, size), np.linspace(s, n, size))
    if not np.asarray(in_china(lon.ravel(), lat.ravel())).any():
        return None
    glon, glat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    return {"bounds": [w, s, e, n], "n": size, "dlon": np.round(np.asarray(glon) - lon.ravel(), 9).tolist(),
            "dlat": np.round(np.asarray(glat) - lat.ravel(), 9).tolist()}


def tiles_script(path: Path, script_id: str) -> str:
    """The script file that hands a PMTiles archive's bytes to the page (base64; see planner-map.js)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'(window.plannerTiles=window.plannerTiles||{{}})["{script_id}"]="{data}";\n'


def install_tiles(assets: str | Path, path: Path, script_id: str) -> Path:
    """Write an archive's script into an assets folder (``assets/basemaps/<id>.js``) unless there."""
    target = Path(assets) / "basemaps" / f"{script_id}.js"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(tiles_script(path, script_id), encoding="ascii")
        tmp.replace(target)
    return target


def install_basemap(assets: str | Path, archive: BasemapArchive) -> Path:
    """Write the basemap archive's script into an assets folder unless there."""
    return install_tiles(assets, archive.path, f"basemap-{archive.digest[:16]}")


@dataclass(frozen=True)
class DataTiles:
    """A map's own data cut into vector tiles (for city-scale layers): the archive and its script id."""

    path: Path
    script_id: str
    min_zoom: int
    max_zoom: int


def data_tiles(layers: dict[str, gpd.GeoDataFrame], *, min_zoom: int, max_zoom: int) -> DataTiles:
    """Cut a map's data layers (WGS-84) into a PMTiles archive, every feature kept from
    ``min_zoom`` on; the archive is named by its content and written to a temporary folder
    until the map is saved."""
    import hashlib
    import tempfile

    from geodata.basemap import write_pmtiles

    folder = Path(tempfile.mkdtemp(prefix="planner-tiles-"))
    path = folder / "data.pmtiles"
    write_pmtiles(layers, path, min_zoom=min_zoom, max_zoom=max_zoom, data=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return DataTiles(path, f"data-{digest}", min_zoom, max_zoom)


def new_map(bounds: tuple[float, float, float, float], *, basemap: str | Basemap | None = None, print_mode: bool = False) -> tuple[folium.Map, Basemap]:
    """A folium map that loads nothing from the internet unless an online basemap is chosen.

    ``bounds`` is ``(min_lon, min_lat, max_lon, max_lat)`` in WGS-84 (shifted for GCJ-02 tiles).
    """
    base = Basemap.parse(basemap)
    m = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], zoom_start=14, tiles=None, zoomSnap=0.25,
                   control_scale=True, prefer_canvas=False, zoom_control=not print_mode)
    m._planner_basemap = base  # noqa: SLF001 - which basemap script the page links (see _link_assets)
    _link_assets(m, ASSET_DIR)
    if base.kind == "offline":
        m.get_root().header.add_child(Element(f"<style>.leaflet-container{{background:{BASEMAP_STYLE['land']}!important;}}</style>"))
    elif base.url:
        folium.TileLayer(base.url, attr=base.attribution, name=base.kind, subdomains="1234" if base.kind == "amap" else "abc", max_zoom=19).add_to(m)
    else:
        m.get_root().header.add_child(Element(f"<style>.leaflet-container{{background:{PLAIN_BACKGROUND}!important;}}</style>"))
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
        install_map_tiles(m, copy_assets(path.parent))
    path.write_text(render_html(m, asset_url or ASSET_DIR), encoding="utf-8")
    return path


def install_map_tiles(m: folium.Map, assets: str | Path) -> None:
    """Put the scripts of the map's basemap and data tiles into an assets folder."""
    base = getattr(m, "_planner_basemap", None)
    if base is not None and base.archive is not None:
        install_basemap(assets, base.archive)
    for tiles in getattr(m, "_planner_tiles", []):
        install_tiles(assets, tiles.path, tiles.script_id)


def render_html(m: folium.Map, asset_url: str) -> str:
    """The map page as a string, linking the local assets under ``asset_url`` (a URL or a
    relative folder)."""
    _link_assets(m, asset_url)
    return m.get_root().render()


def _link_assets(m: folium.Map, prefix: str) -> None:
    """Point the page's scripts and styles at the local copies under ``prefix`` (never a CDN)."""
    prefix = prefix.rstrip("/")
    m.default_js = [(k, f"{prefix}/{v}") for k, v in LOCAL_JS]
    base = getattr(m, "_planner_basemap", None)
    if base is not None and base.script_id:
        m.default_js.append(("planner_basemap", f"{prefix}/basemaps/{base.script_id}.js"))
    for k, tiles in enumerate(getattr(m, "_planner_tiles", [])):
        m.default_js.append((f"planner_tiles_{k}", f"{prefix}/basemaps/{tiles.script_id}.js"))
    m.default_css = [(k, f"{prefix}/{v}") for k, v in LOCAL_CSS]
