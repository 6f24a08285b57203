"""Writing a Region out: GeoJSON files or one GeoPackage, in WGS-84, UTF-8, plus a JSON summary."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geodata.network import Network
from geodata.projection import WGS84, xy_to_lonlat
from geodata.region import Region

EXPORT_FORMATS = ("geojson", "gpkg")


def write_json(path: str | Path, payload: object) -> Path:
    """Write UTF-8 JSON (Chinese kept readable), creating folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=json_default), encoding="utf-8")
    return path


def json_default(value: object) -> object:
    """JSON for numpy numbers and arrays (NaN and inf become null); anything else as text."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_geojson(frame: gpd.GeoDataFrame, path: str | Path, *, precision: int | None = None) -> Path:
    """Write a layer as WGS-84 GeoJSON (UTF-8); datetimes become ISO text.

    ``precision``: decimals of the coordinates (6 ≈ 0.1 m), default GDAL's (15).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.to_crs(WGS84) if frame.crs is not None else frame.set_crs(WGS84)
    frame = frame.copy()
    for column in frame.columns:
        if column != frame.geometry.name and (str(frame[column].dtype).startswith("datetime") or frame[column].dtype == object):
            if str(frame[column].dtype).startswith("datetime"):
                frame[column] = frame[column].astype(str)
    if path.exists():
        path.unlink()
    options = {"COORDINATE_PRECISION": str(precision)} if precision is not None else {}
    frame.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options=options)
    return path


def write_csv(frame, path: str | Path) -> Path:
    """Write a table as CSV with a UTF-8 byte-order mark, so that Excel shows Chinese correctly;
    text cells guarded against formula injection (see :func:`safe_cell`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype) in ("string", "str"):
            frame[column] = frame[column].map(safe_cell)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def network_links_frame(network: Network) -> gpd.GeoDataFrame:
    """The links of a network as WGS-84 LineStrings with name, class, length (m) and time (s)."""
    lon, lat = xy_to_lonlat(network.link_xy[:, 0], network.link_xy[:, 1], network.crs)
    coords = np.column_stack([lon, lat])
    counts = np.diff(network.link_offsets)
    index = np.repeat(np.arange(network.n_links), counts)
    lines = shapely.linestrings(coords, indices=index)
    first_edge = np.full(network.n_links, -1)
    first_edge[network.edge_link[::-1]] = np.arange(network.n_edges)[::-1]
    both = np.bincount(network.edge_link, minlength=network.n_links) == 2
    return gpd.GeoDataFrame(
        {
            "link": np.arange(network.n_links),
            "name": np.asarray(network.name_vocab, dtype=object)[network.link_name] if network.name_vocab else "",
            "highway": np.asarray(network.highway_vocab, dtype=object)[network.link_highway] if network.highway_vocab else "",
            "length_m": network.edge_length[first_edge].round(2),
            "time_s": network.edge_time[first_edge].round(2),
            "two_way": both,
        },
        geometry=lines,
        crs=WGS84,
    )


def _layers(region: Region, include_networks: bool) -> dict[str, gpd.GeoDataFrame]:
    layers = {"boundary": gpd.GeoDataFrame({"name": [region.name]}, geometry=[region.boundary], crs=WGS84),
              "units": region.units, "demand": region.demand, "sites": region.sites}
    for key, frame in region.layers.items():
        layers[key] = frame
    if include_networks:
        for mode, net in region.networks.items():
            layers[f"network_{mode}"] = network_links_frame(net)
    return layers


def export_region(region: Region, out_dir: str | Path, fmt: str = "geojson", *, include_networks: bool = True) -> list[Path]:
    """Write every layer of ``region`` and ``region-summary.json`` to ``out_dir``.

    Parameters
    ----------
    fmt
        ``geojson`` (one ``<layer>.geojson`` per layer) or ``gpkg`` (one ``region.gpkg``).

    Returns
    -------
    list of Path
        The files written.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use {', '.join(EXPORT_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, frame in _layers(region, include_networks).items():
        frame = frame.copy()
        for column in frame.columns:
            if column != frame.geometry.name and str(frame[column].dtype).startswith("datetime"):
                frame[column] = frame[column].astype(str)
        if fmt == "geojson":
            target = out / f"{name}.geojson"
            frame.to_file(target, driver="GeoJSON", engine="pyogrio")
            if target not in written:
                written.append(target)
        else:
            target = out / "region.gpkg"
            frame.to_file(target, layer=name, driver="GPKG", engine="pyogrio")
            if target not in written:
                written.append(target)
    summary = out / "region-summary.json"
    summary.write_text(json.dumps(region.summary(), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    written.append(summary)
    return written


def region_report_markdown(region: Region) -> str:
    """A short bilingual (中文 / English) Markdown report of a region's summary."""
    s = region.summary()
    lines = [f"# {s['name']}", "", f"> {s['data']['zh']}", f"> {s['data']['en']}", ""]
    lines += ["| 指标 / Figure | 数值 / Value |", "|---|---|"]
    lines.append(f"| 面积 / Area | {s['area_km2']:.2f} km² |")
    for level, info in s["units"].items():
        lines.append(f"| {level} 单元数 / {level} units | {info['count']} |")
    pop = s["population"]
    lines.append(f"| 常住人口 / Residents | {pop.get('pop_all', 0):,.0f} |")
    lines.append(f"| 60岁及以上 / Aged 60+ | {pop.get('pop_60', 0):,.0f} |")
    lines.append(f"| 80岁及以上 / Aged 80+ | {pop.get('pop_80', 0):,.0f} |")
    lines.append(f"| 独居老人 / Living alone | {pop.get('pop_alone', 0):,.0f} |")
    lines.append(f"| 需求点 / Demand points | {s['demand_points']:,} |")
    for mode, net in s["networks"].items():
        lines.append(f"| 路网 {mode} / {mode} network | {net['nodes']:,} nodes, {net['edges']:,} edges |")
    for key, count in s["sites"].items():
        lines.append(f"| 设施 / Sites {key} | {count} |")
    if s["population_by_town"]:
        lines += ["", "## 各镇街人口 / Population by town", "", "| 镇街 / Town | 常住人口 / Residents | 60+ |", "|---|---:|---:|"]
        for town, groups in s["population_by_town"].items():
            lines.append(f"| {town} | {groups['pop_all']:,.0f} | {groups['pop_60']:,.0f} |")
    if s["issues"]:
        lines += ["", "## 数据问题 / Data issues", ""] + [f"- {issue}" for issue in s["issues"]]
    return "\n".join(lines) + "\n"


def write_region_report(region: Region, path: str | Path) -> Path:
    """Write :func:`region_report_markdown` to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(region_report_markdown(region), encoding="utf-8")
    return path


def gpx_xml(tracks: list[dict], *, creator: str = "coverage-planner", day: datetime.date | None = None,
            tz: datetime.tzinfo | None = None) -> str:
    """Routes for phones as GPX 1.1 text: one track per team, its stops as waypoints.

    ``tracks``: dicts with ``name``, ``points`` (lon, lat pairs along the roads) and
    ``waypoints`` (dicts with ``name``, ``lon``, ``lat``, optional ``description`` and
    ``minutes`` after the first midnight of the shift).  With ``day``, each waypoint carries its
    arrival time (``<time>``, ISO 8601 in UTC as GPX asks) — the shift's clock read in ``tz``
    (default: this machine's time zone).  Names stay in UTF-8 (Chinese untouched).
    """
    import gpxpy.gpx

    gpx = gpxpy.gpx.GPX()
    gpx.creator = creator
    zone = tz or datetime.datetime.now().astimezone().tzinfo
    midnight = datetime.datetime.combine(day, datetime.time(0, 0), tzinfo=zone) if day is not None else None
    for track in tracks:
        for w in track.get("waypoints", []):
            when = None
            if midnight is not None and w.get("minutes") is not None:
                when = (midnight + datetime.timedelta(minutes=float(w["minutes"]))).astimezone(datetime.timezone.utc)
            gpx.waypoints.append(gpxpy.gpx.GPXWaypoint(latitude=w["lat"], longitude=w["lon"], name=xml_text(w["name"]),
                                                       description=xml_text(w.get("description")), time=when))
        trk = gpxpy.gpx.GPXTrack(name=xml_text(track["name"]))
        trk.segments.append(gpxpy.gpx.GPXTrackSegment([gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon) for lon, lat in track["points"]]))
        gpx.tracks.append(trk)
    return gpx.to_xml(version="1.1")


def write_gpx(tracks: list[dict], path: str | Path, *, creator: str = "coverage-planner", day: datetime.date | None = None,
              tz: datetime.tzinfo | None = None) -> Path:
    """Write :func:`gpx_xml` to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(gpx_xml(tracks, creator=creator, day=day, tz=tz), encoding="utf-8")
    return path


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Characters an .xlsx cell cannot hold (XML 1.0); tab, line feed and carriage return can."""


def xml_text(value: str | None) -> str | None:
    """Text an XML 1.0 document can hold: control characters other than tab and line breaks
    become U+FFFD (the XML writer escapes the rest)."""
    return None if value is None else _CONTROL_CHARACTERS.sub("\ufffd", str(value))


def safe_cell(value: object) -> object:
    """A cell value that spreadsheet programs will not run as a formula (CSV/Excel injection) and
    that a workbook can hold (control characters other than tab and line breaks become U+FFFD)."""
    if isinstance(value, str):
        value = _CONTROL_CHARACTERS.sub("\ufffd", value)
        if value.startswith(_FORMULA_START):
            return "'" + value
    return value


def excel_bytes(sheets: dict[str, "pd.DataFrame"], headers: dict[str, str] | None = None, *,
                percent_columns: set[str] | frozenset[str] = frozenset()) -> bytes:
    """An .xlsx workbook (one sheet per frame) with headers renamed (e.g. to Chinese), text cells
    guarded against formula injection, ``percent_columns`` shown as percentages and columns
    wide enough for their headers."""
    import io

    import pandas as pd
    from openpyxl.utils import get_column_letter

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            clean = frame.copy()
            for col in clean.columns:
                if clean[col].dtype == object or pd.api.types.is_string_dtype(clean[col]):
                    clean[col] = clean[col].map(safe_cell)
            clean = clean.rename(columns={c: (headers or {}).get(c, c) for c in clean.columns})
            sheet_name = str(safe_cell(name))[:31]
            clean.to_excel(writer, sheet_name=sheet_name, index=False)
            sheet = writer.sheets[sheet_name]
            for k, col in enumerate(clean.columns, start=1):
                letter = get_column_letter(k)
                width = max([sum(2 if ord(ch) > 255 else 1 for ch in str(col))] + [min(60, len(str(v))) for v in clean[col].head(50)])
                sheet.column_dimensions[letter].width = min(62, width + 2)
                if col in percent_columns:
                    for cell in sheet[letter][1:]:
                        cell.number_format = "0.0%"
    return buffer.getvalue()
