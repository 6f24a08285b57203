"""A map as data: layers of features with their popups and tooltips, a title and a legend.

The builders in :mod:`maps.views` describe what a map shows with :class:`MapSpec`; the page
carries it as JSON inside ``<script type="application/json">`` and the vendored
``planner-map.js`` draws it with Leaflet.  No text from the data is ever spliced into HTML or
JavaScript source: names such as ``${document.title}`` or ``<img onerror=…>`` travel as JSON
strings and reach the page through ``textContent``.  Coordinates are given in the basemap's
system (see :func:`maps.base.to_display`) as (lon, lat) and stored as [lat, lon] for Leaflet.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
from branca.element import Element, MacroElement
from jinja2 import Template

COORDINATE_DECIMALS = 6
"""Decimals of the coordinates in a page (about 0.1 m)."""
_COLOUR = re.compile(r"^#[0-9a-fA-F]{3,8}$")
_GLYPH = re.compile(r"^[a-z0-9-]{1,40}$")
Style = dict[str, Any]


def _colour(value: str) -> str:
    if not _COLOUR.match(value):
        raise ValueError(f"not a colour: {value!r} (use #rrggbb)")
    return value


def _text(value: Any) -> str:
    """Any value as the text a user reads (None and NaN as a dash)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return str(value)


def _point(lon: float, lat: float) -> list[float]:
    return [round(float(lat), COORDINATE_DECIMALS), round(float(lon), COORDINATE_DECIMALS)]


def _geometry(geometry: Any) -> dict:
    """A shapely geometry as a GeoJSON geometry with rounded coordinates."""
    mapping = geometry.__geo_interface__

    def rounded(coords: Any) -> Any:
        if isinstance(coords, (int, float)):
            return round(float(coords), COORDINATE_DECIMALS)
        return [rounded(c) for c in coords]

    if mapping["type"] == "GeometryCollection":
        return {"type": "GeometryCollection", "geometries": [_geometry(g) for g in geometry.geoms]}
    return {"type": mapping["type"], "coordinates": rounded(mapping["coordinates"])}


@dataclass
class Popup:
    """A popup: a bold title and rows of (label, value) shown as a two-column table."""

    title: str | None
    rows: Sequence[tuple[str, Any]] = ()

    def to_json(self) -> dict:
        return {"title": None if self.title is None else str(self.title), "rows": [[str(k), _text(v)] for k, v in self.rows]}


@dataclass
class Layer:
    """One named layer (a line of the layer control): shapes, circles, markers and lines."""

    name: str | None
    show: bool = True
    control: bool = True
    features: list[dict] = field(default_factory=list)

    declutter: bool = False
    """Move markers that overlap on screen apart (with a leader line to their place)."""

    def _texts(self, item: dict, tooltip: Any, popup: Popup | None, name: Any = None) -> dict:
        if tooltip is not None:
            item["tooltip"] = str(tooltip)
        if popup is not None:
            item["popup"] = popup.to_json()
        if name is not None:
            item["name"] = str(name)  # found by the map's search box
        return item

    def shape(self, geometry: Any, style: Style, *, tooltip: Any = None, popup: Popup | None = None, name: Any = None,
              label: Any = None, label_level: str | None = None) -> None:
        """A polygon or line geometry (shapely, display coordinates); ``label`` is written on it
        (``label_level="community"``: only when zoomed in)."""
        item = self._texts({"k": "s", "geometry": _geometry(geometry), "style": _checked(style)}, tooltip, popup, name)
        if label is not None:
            item["label"] = str(label)
            if label_level is not None:
                item["label_level"] = "community" if label_level == "community" else "town"
        self.features.append(item)

    def circle(self, lon: float, lat: float, radius_px: float, style: Style, *, tooltip: Any = None, popup: Popup | None = None, name: Any = None,
               pick: str | None = None) -> None:
        """A circle of ``radius_px`` screen pixels.  ``pick``: an id the page reports to the page
        embedding it when the circle is clicked or chosen with the keyboard (see MapSpec.pick)."""
        item = self._texts({"k": "c", "at": _point(lon, lat), "radius": round(float(radius_px), 2), "style": _checked(style)}, tooltip, popup, name)
        if pick is not None:
            item["pick"] = str(pick)
        self.features.append(item)

    def marker(self, lon: float, lat: float, *, colour: str, glyph: str | None = None, number: int | None = None, size_px: int = 26,
               label_px: int = 12, tooltip: Any = None, popup: Popup | None = None, name: Any = None) -> None:
        """A round marker showing a Font Awesome ``glyph`` or a ``number``."""
        icon: dict[str, Any] = {"colour": _colour(colour), "size": int(size_px), "label_px": int(label_px)}
        if number is not None:
            icon["number"] = int(number)
        else:
            if glyph is None or not _GLYPH.match(glyph):
                raise ValueError(f"not a Font Awesome glyph name: {glyph!r}")
            icon["glyph"] = glyph
        self.features.append(self._texts({"k": "m", "at": _point(lon, lat), "icon": icon}, tooltip, popup, name))

    def line(self, lonlat: Iterable[Sequence[float]], style: Style, *, tooltip: Any = None, popup: Popup | None = None,
             arrows: bool = False, arrow_px: int = 12) -> None:
        """A polyline through (lon, lat) points; ``arrows``: arrowheads along it showing its direction."""
        item = self._texts({"k": "l", "path": [_point(x, y) for x, y in lonlat], "style": _checked(style)}, tooltip, popup)
        if arrows:
            item["arrows"], item["arrow_px"] = True, int(arrow_px)
        self.features.append(item)

    def to_json(self) -> dict:
        out = {"name": self.name, "show": self.show, "control": self.control, "features": self.features}
        if self.declutter:
            out["declutter"] = True
        return out


_STYLE_KEYS = {"color", "fillColor", "weight", "opacity", "fillOpacity", "fill", "dashArray"}


def _checked(style: Style) -> Style:
    unknown = set(style) - _STYLE_KEYS
    if unknown:
        raise ValueError(f"unknown style keys {sorted(unknown)}")
    for key in ("color", "fillColor"):
        if key in style:
            _colour(style[key])
    return dict(style)


@dataclass
class LegendRow:
    """A legend line: colour swatches (``(colour, "circle"|"square")``) and a text."""

    swatches: Sequence[tuple[str, str]]
    text: str

    def to_json(self) -> dict:
        return {"swatches": [[_colour(c), "square" if s == "square" else "circle"] for c, s in self.swatches], "text": str(self.text)}


@dataclass
class Sheet:
    """A printed A4 page: a header, the named layers fitted into its map box, a timetable."""

    title: str
    lines: Sequence[str]
    layers: Sequence[str]
    bounds: tuple[float, float, float, float] | None
    """(min lon, min lat, max lon, max lat) to fit, display coordinates; None: a page of table only."""
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    team: str = ""
    portrait: bool | None = None
    """Page orientation; None: chosen by the shape of ``bounds``."""

    def to_json(self) -> dict:
        b = self.bounds
        out = {"title": str(self.title), "lines": [str(x) for x in self.lines], "layers": [str(x) for x in self.layers], "team": str(self.team),
               "bounds": None if b is None else [[round(b[1], COORDINATE_DECIMALS), round(b[0], COORDINATE_DECIMALS)],
                                                 [round(b[3], COORDINATE_DECIMALS), round(b[2], COORDINATE_DECIMALS)]],
               "table": {"columns": [str(c) for c in self.columns], "rows": [[_text(v) for v in row] for row in self.rows]}}
        if self.portrait is not None:
            out["portrait"] = bool(self.portrait)
        return out


@dataclass
class MapSpec:
    """Everything a map shows, as data (see module docstring)."""

    bounds: tuple[float, float, float, float]
    """(min lon, min lat, max lon, max lat) in display coordinates."""
    title: str = ""
    note: str = ""
    title_px: int = 13
    legend_title: str = ""
    legend_rows: list[LegendRow] = field(default_factory=list)
    legend_px: int = 13
    layers: list[Layer] = field(default_factory=list)
    fullscreen_label: str | None = "Fullscreen"
    layer_control: bool = True
    control_collapsed: bool = False
    base: dict | None = None
    """Basemaps the page draws itself (see :func:`maps.base.base_json`)."""
    search_placeholder: str | None = None
    """Placeholder of the search box (None: no search box)."""
    sheets: list[Sheet] = field(default_factory=list)
    """Print sheets; when there are any the page shows them instead of the map."""
    tiled: dict | None = None
    """Layers drawn from the map's own vector tiles (city scale): ``{"id", "max_zoom", "layers": [...]}``."""
    pick: dict | None = None
    """Picking mode: clicking a feature with a ``pick`` id posts ``{"type": "planner-pick", "site": id}``
    to the embedding page, which answers ``{"type": "planner-picked", "states": {id: state}}``;
    each state is drawn with ``pick["styles"][state]`` (``{"keep": {...}, "forbid": {...}}``)."""

    def layer(self, name: str | None, *, show: bool = True, control: bool = True, declutter: bool = False) -> Layer:
        """A new layer, drawn in the order added."""
        added = Layer(name, show, control, declutter=declutter)
        self.layers.append(added)
        return added

    def legend(self, title: str, rows: Iterable[LegendRow], *, font_px: int = 13) -> None:
        """Set the legend box (bottom right)."""
        self.legend_title, self.legend_rows, self.legend_px = title, list(rows), font_px

    def to_json(self) -> dict:
        b = self.bounds
        out: dict[str, Any] = {
            "bounds": [[round(b[1], COORDINATE_DECIMALS), round(b[0], COORDINATE_DECIMALS)], [round(b[3], COORDINATE_DECIMALS), round(b[2], COORDINATE_DECIMALS)]],
            "layers": [layer.to_json() for layer in self.layers],
            "layer_control": {"collapsed": self.control_collapsed} if self.layer_control else None,
            "fullscreen": self.fullscreen_label,
        }
        if self.title:
            out["title"] = {"title": self.title, "note": self.note, "font_px": self.title_px}
        if self.legend_title or self.legend_rows:
            out["legend"] = {"title": self.legend_title, "rows": [r.to_json() for r in self.legend_rows], "font_px": self.legend_px}
        if self.base is not None:
            out["base"] = self.base
        if self.search_placeholder:
            out["search"] = {"placeholder": self.search_placeholder}
        if self.sheets:
            out["sheets"] = [s.to_json() for s in self.sheets]
        if self.tiled:
            out["tiled"] = self.tiled
        if self.pick:
            out["pick"] = {"styles": {str(k): _checked(v) for k, v in self.pick.get("styles", {}).items()}}
        return out


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def script_json(payload: Any) -> str:
    """JSON that is safe inside an HTML ``<script>`` element of a folium page: ``<``, ``>``, ``&``
    and the two line separators escaped, so no text can close the element or start markup; and
    the braces inside strings escaped, because folium (branca) passes a page's parts through Jinja
    again, where ``{{ … }}`` or ``{% … %}`` in a name would be run as a template."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default)
    text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    if "{" in text or "}" in text:
        text = _JSON_STRING.sub(lambda m: m.group(0).replace("{", "\\u007b").replace("}", "\\u007d"), text)
    return text


def template_safe_html(text: str) -> str:
    """Text for HTML that folium passes through Jinja: escaped, braces as character references."""
    import html

    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    raise TypeError(f"not JSON: {type(value).__name__}")


class MapData(MacroElement):
    """Puts a :class:`MapSpec` in the page as JSON and asks ``planner-map.js`` to draw it."""

    _template = Template("""
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.data_id }}">{{ this.payload }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
plannerMap.drawFrom({{ this._parent.get_name() }}, "{{ this.data_id }}");
{% endmacro %}
""")

    def __init__(self, spec: MapSpec) -> None:
        super().__init__()
        self._name = "MapData"
        self.spec = spec
        self.data_id = f"planner-data-{uuid.uuid4().hex}"

    def render(self, **kwargs: Any) -> None:
        self.payload = script_json(self.spec.to_json())  # at render time: the spec may grow after it is attached
        super().render(**kwargs)


def page_title(text: str) -> Element:
    """The page's ``<title>`` (the browser tab), escaped."""
    return Element(f"<title>{template_safe_html(text)}</title>")


def read_map_data(page: str) -> dict:
    """The map data embedded in a page written by this package (for tests and scripts)."""
    found = re.search(r'<script type="application/json" id="planner-data-[0-9a-f]+">(.*?)</script>', page, re.S)
    if not found:
        raise ValueError("no planner map data in this page")
    return json.loads(found.group(1))
