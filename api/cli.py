"""The ``planner`` command line: the demo job, and building, inspecting and exporting regions.

Every expected failure (bad file, missing field, offline source) prints one clear message and exits
with status 2 — never a traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.demo import run_demo
from api.regions import REGION_HELP, open_region
from geodata.build import (
    AdminSource,
    NetworkSource,
    PopulationSource,
    RegionSources,
    SiteSource,
    default_cache_dir,
    load_or_build,
)
from geodata.errors import DataError
from geodata.export import EXPORT_FORMATS, export_region
from geodata.region import Region

app = typer.Typer(help="Service-coverage planner for civil-affairs bureaus (elderly meal points, care centres, street patrols).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
region_app = typer.Typer(help="Build, inspect and export regions.", no_args_is_help=True)
app.add_typer(region_app, name="region")
console = Console()

CacheOpt = Annotated[Optional[Path], typer.Option("--cache-dir", help="Cache folder (default $PLANNER_CACHE_DIR or ~/.cache/coverage-planner).")]


@contextmanager
def steps() -> Iterator[Callable[[str], None]]:
    """A progress display: each call names the next step; finished steps stay with their time."""
    with Progress(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        current: list[Any] = []

        def step(description: str) -> None:
            if current:
                progress.update(current[-1], completed=1, total=1)
            if description != "done":
                current.append(progress.add_task(description, total=None))

        yield step
        if current:
            progress.update(current[-1], completed=1, total=1)


def fail(exc: Exception) -> None:
    """Print an expected error plainly and exit 2."""
    console.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(code=2)


def summary_table(region: Region) -> Table:
    """A short table of a region's figures for the terminal."""
    s = region.summary()
    table = Table(title=s["name"], show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("data", s["data"]["en"])
    table.add_row("area", f"{s['area_km2']:.2f} km²  ({s['crs']})")
    for level, info in s["units"].items():
        table.add_row(f"{level} units", str(info["count"]))
    pop = s["population"]
    est = " (estimate)" if s["population_is_estimate"] else ""
    table.add_row("residents" + est, f"{pop.get('pop_all', 0):,.0f}  in {s['demand_points']:,} demand points")
    table.add_row("aged 60+ / 80+ / alone", f"{pop.get('pop_60', 0):,.0f} / {pop.get('pop_80', 0):,.0f} / {pop.get('pop_alone', 0):,.0f}")
    for mode, net in s["networks"].items():
        table.add_row(f"{mode} network", f"{net['nodes']:,} nodes, {net['edges']:,} edges ({net.get('dropped_nodes', 0)} nodes off the main component dropped)")
    for key, count in s["sites"].items():
        table.add_row(f"sites {key}", str(count))
    if s["issues"]:
        table.add_row("issues", escape("\n".join(s["issues"][:8])))
    return table


def results_table(figures: dict[str, Any]) -> Table:
    """The headline results of the main job."""
    table = Table(title="results", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for key, value in figures.items():
        text = f"{value:.1%}" if isinstance(value, float) and 0 <= value <= 1 else (f"{value:,}" if isinstance(value, (int, float)) else str(value))
        table.add_row(escape(key), escape(text))
    return table


# ---------------------------------------------------------------------- demo
@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("planner-demo"),
    cache_dir: CacheOpt = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild the sample region even if cached.")] = False,
) -> None:
    """Run the whole job offline on the bundled sample region and write everything to OUT."""
    started = time.perf_counter()
    try:
        with steps() as step:
            step("loading the sample region (central Helsinki, OpenStreetMap)")
            region, directory, cached = load_or_build(_sample_sources(), cache_dir, progress=step, rebuild=rebuild)
            result = run_demo(region, out, step)
    except (DataError, ValueError) as exc:
        fail(exc)
    console.print(summary_table(region))
    console.print(f"[dim]{escape(region.data_label['zh'])}[/]")
    console.print(results_table(result.figures))
    console.print(f"region cache: {directory} ({'loaded' if cached else 'built'})")
    console.print("[bold]files written:[/]")
    for path in result.files:
        console.print(f"  {path}")
    console.print(f"done in {time.perf_counter() - started:.1f} s")


@app.command()
def serve(
    region: Annotated[str, typer.Option("--region", help=REGION_HELP)] = "sample",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    db: Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL (default: SQLite file in --data-dir).")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for the database and map assets.")] = Path("planner-data"),
    cache_dir: CacheOpt = None,
) -> None:
    """Start the HTTP service (OpenAPI docs at /docs, offline) on the sample region or REGION."""
    import os

    import uvicorn

    from api import store as db_mod
    from api.service import Settings, create_app

    try:
        with steps() as step:
            step(f"loading region {region!r}")
            loaded = open_region(region, cache_dir, progress=step)
    except (DataError, ValueError) as exc:
        fail(exc)
    url = db or os.environ.get("PLANNER_DB_URL") or db_mod.default_db_url(data_dir)
    store = db_mod.Store(url)
    admin = os.environ.get("PLANNER_ADMIN_KEY")
    if store.count_keys() == 0 and not admin:
        _, admin = store.create_key("first admin", "admin")
        key_file = data_dir / "admin-key.txt"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(admin + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        console.print(f"[bold]first start: admin key[/] {admin}  (also in {key_file}; shown once)")
    store.engine.dispose()
    application = create_app(Settings(regions={"sample" if region == "sample" else Path(region).name or region: loaded}, db_url=url,
                                      data_dir=data_dir, admin_key=admin,
                                      suggestion_cache_size=int(os.environ.get("PLANNER_SUGGESTION_CACHE", "256"))))
    console.print(f"serving {loaded.name} at http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


def _sample_sources() -> RegionSources:
    from geodata.sample import sample_sources

    return sample_sources()


# ---------------------------------------------------------------------- region commands
@region_app.command("build")
def region_build(
    name: Annotated[Optional[str], typer.Option(help="Region name (Chinese fine).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="JSON file of RegionSources (overrides the other options).")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Build the bundled sample region.")] = False,
    pbf: Annotated[Optional[Path], typer.Option(help="OSM PBF extract (pyrosm).")] = None,
    osm_xml: Annotated[Optional[Path], typer.Option("--osm-xml", help="OSM XML file (osmnx).")] = None,
    graphml_walk: Annotated[Optional[Path], typer.Option("--graphml-walk", help="GraphML walk network (osmnx).")] = None,
    graphml_drive: Annotated[Optional[Path], typer.Option("--graphml-drive", help="GraphML drive network (osmnx).")] = None,
    place: Annotated[Optional[str], typer.Option(help="Download by place name with osmnx (needs internet; cached).")] = None,
    modes: Annotated[str, typer.Option(help="Comma-separated modes: walk,drive.")] = "walk,drive",
    boundary: Annotated[Optional[Path], typer.Option(help="Boundary polygon file.")] = None,
    admin: Annotated[Optional[list[Path]], typer.Option(help="Admin-unit file (repeatable).")] = None,
    name_field: Annotated[str, typer.Option(help="Name field of the admin files.")] = "name",
    level_field: Annotated[Optional[str], typer.Option(help="Level field of the admin files.")] = None,
    level: Annotated[Optional[str], typer.Option(help="Fixed level of all admin units (city/town/community).")] = None,
    zones: Annotated[str, typer.Option(help="Without admin files: 'places' (OSM place names) or 'h3'.")] = "places",
    population: Annotated[str, typer.Option(help="raster | census | points | buildings (estimate).")] = "buildings",
    population_file: Annotated[Optional[Path], typer.Option("--population-file", help="Population raster/polygons/table.")] = None,
    sites: Annotated[Optional[list[Path]], typer.Option(help="Sites file (repeatable).")] = None,
    coords: Annotated[str, typer.Option(help="Coordinate system of site/point tables: wgs84, gcj02 (Amap), bd09 (Baidu).")] = "wgs84",
    site_type: Annotated[Optional[str], typer.Option(help="Facility type for site files without a type column.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Also save the region to this folder.")] = None,
    cache_dir: CacheOpt = None,
    rebuild: Annotated[bool, typer.Option(help="Ignore the cache.")] = False,
) -> None:
    """Build a region from sources, cache it and print its summary."""
    try:
        if config:
            try:
                sources = RegionSources.from_dict(json.loads(config.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read config: {exc}", source=config) from exc
        elif sample:
            sources = _sample_sources()
        else:
            if sum(x is not None for x in (pbf, osm_xml, place)) + bool(graphml_walk or graphml_drive) != 1:
                raise DataError("give exactly one network source: --pbf, --osm-xml, --graphml-walk/--graphml-drive or --place (or --sample / --config)")
            if pbf:
                net = NetworkSource(kind="pbf", path=str(pbf))
            elif osm_xml:
                net = NetworkSource(kind="xml", path=str(osm_xml))
            elif place:
                net = NetworkSource(kind="online", place=place)
            else:
                net = NetworkSource(kind="graphml", paths={k: str(v) for k, v in (("walk", graphml_walk), ("drive", graphml_drive)) if v})
            sources = RegionSources(
                name=name or (place or (pbf or osm_xml or graphml_walk or graphml_drive).stem),  # type: ignore[union-attr]
                network=net,
                modes=[m.strip() for m in modes.split(",") if m.strip()],
                boundary=str(boundary) if boundary else None,
                admin=[AdminSource(str(p), name_field=name_field, level_field=level_field, level=level) for p in admin or []],
                zones=zones,
                population=PopulationSource(kind=population, path=str(population_file) if population_file else None, coords=coords),
                sites=[SiteSource(str(p), coords=coords, default_type=site_type) for p in sites or []],
                osm_sites=pbf is not None,
            )
        with steps() as step:
            region, directory, cached = load_or_build(sources, cache_dir, progress=step, rebuild=rebuild)
            if out:
                step(f"saving to {out}")
                region.save(out)
    except (DataError, ValueError) as exc:
        fail(exc)
    console.print(summary_table(region))
    console.print(f"region cache: {directory} ({'loaded' if cached else 'built'})" + (f"; saved to {out}" if out else ""))


@region_app.command("info")
def region_info(
    region: Annotated[str, typer.Argument(help=REGION_HELP)] = "sample",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full summary as JSON.")] = False,
    cache_dir: CacheOpt = None,
) -> None:
    """Print a region's summary."""
    try:
        with steps() as step:
            loaded = open_region(region, cache_dir, progress=step)
    except DataError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(loaded.summary(), ensure_ascii=False, indent=1, default=str))
    else:
        console.print(summary_table(loaded))


@region_app.command("export")
def region_export(
    region: Annotated[str, typer.Argument(help=REGION_HELP)] = "sample",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("region-export"),
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(EXPORT_FORMATS)}.")] = "geojson",
    networks: Annotated[bool, typer.Option(help="Include the road networks as line layers.")] = True,
    cache_dir: CacheOpt = None,
) -> None:
    """Export a region's layers (WGS-84) and summary."""
    if fmt not in EXPORT_FORMATS:
        fail(ValueError(f"unknown format {fmt!r}; use {', '.join(EXPORT_FORMATS)}"))
    try:
        with steps() as step:
            loaded = open_region(region, cache_dir, progress=step)
            step("writing layers")
            written = export_region(loaded, out, fmt, include_networks=networks)
    except DataError as exc:
        fail(exc)
    for path in written:
        console.print(f"  {path}")


def main() -> None:  # pragma: no cover - console entry
    """Entry point for ``python -m api.cli``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

__all__ = ["app", "default_cache_dir"]
