"""The ``planner`` command line: the demo job, and building, inspecting and exporting regions.

Every expected failure (bad file, missing field, offline source) prints one clear message and exits
with status 2 — never a traceback.
"""

from __future__ import annotations

import json
import os
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
from api.entry import SOLVING_COMMANDS
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
from geodata.columns import parse_column_mappings
from geodata.errors import DataError
from geodata.export import EXPORT_FORMATS, export_region
from geodata.region import Region
from planner import warmup

app = typer.Typer(help="Service-coverage planner for civil-affairs bureaus (elderly meal points, care centres, street patrols).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
region_app = typer.Typer(help="Build, inspect and export regions.", no_args_is_help=True)
app.add_typer(region_app, name="region")
console = Console()

@app.callback()
def _before_a_command(ctx: typer.Context) -> None:
    """Kernels a first run has not compiled yet are compiled beside it (``python -m api.cli …``;
    the ``planner`` command starts this earlier, in :mod:`api.entry`)."""
    if ctx.invoked_subcommand in SOLVING_COMMANDS:
        warmup.start_in_background()


CacheOpt = Annotated[Optional[Path], typer.Option("--cache-dir", help="Cache folder (default $PLANNER_CACHE_DIR or ~/.cache/coverage-planner).")]


def offline_basemap(region: "Region", cache_dir: Path | None) -> "Basemap":
    """The region's offline basemap from the cache (made on first use), with Tianditu offered
    when ``PLANNER_TIANDITU_TOKEN`` is set."""
    from geodata.basemap import region_basemap
    from maps.base import Basemap

    archive = region_basemap(region, (cache_dir or default_cache_dir()) / "basemaps")
    return Basemap.offline(archive, tianditu_token=os.environ.get("PLANNER_TIANDITU_TOKEN") or None)


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


def await_kernels(step: Callable[[str], None]) -> None:
    """Wait for the kernels being compiled beside this run (first run after an install only).

    Only ``serve`` needs this (its workers fork); other commands go on, and a kernel's first
    call waits for that kernel alone (:mod:`planner.warmup`).
    """
    if warmup.pending():
        step("compiling the solvers (first run after an install only)")
        warmup.wait()


def fail(exc: Exception) -> None:
    """Print an expected error as one line on stderr (never wrapped) and exit 2."""
    typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
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
    if s.get("cost_note"):
        table.add_row("travel times", escape(s["cost_note"]["en"]))
    for sentence in s.get("population_derived", {}).get("en", []):
        table.add_row("derived group", escape(sentence))
    for key, count in s["sites"].items():
        table.add_row(f"sites {key}", str(count))
    if s["issues"]:
        table.add_row("issues", f"{len(s['issues'])} (listed below)")
    return table


def print_issues(region: Region) -> None:
    """Every partial problem and warning of a region, one unwrapped line each (they hold the fix)."""
    for issue in region.issues:
        typer.echo(f"  - {issue}")


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
            result = run_demo(region, out, step, basemap_dir=(cache_dir or default_cache_dir()) / "basemaps",
                              tianditu_token=os.environ.get("PLANNER_TIANDITU_TOKEN") or None)
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
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for the database, snapshots, access log and map assets.")] = Path("planner-data"),
    workers: Annotated[int, typer.Option(help="Scenario jobs solved at the same time (worker processes); 0: one per core.")] = 0,
    rate_per_minute: Annotated[float, typer.Option("--rate-per-minute", help="Requests per minute per key (beyond: 429 with Retry-After).")] = 120.0,
    max_jobs: Annotated[int, typer.Option("--max-jobs", help="Scenario jobs queued or running at most (beyond: 503).")] = 20,
    inline_solves: Annotated[int, typer.Option("--inline-solves", help="Suggestions and patrols solved inside requests at the same time.")] = 2,
    inline_per_key: Annotated[int, typer.Option("--inline-per-key", help="Of those, at most this many for one key (beyond: 429).")] = 1,
    server_timeout: Annotated[float, typer.Option("--server-timeout", help="Seconds without a heartbeat after which another server "
                                                  "sharing the database is taken as stopped and its running jobs are retried.")] = 30.0,
    cache_dir: CacheOpt = None,
) -> None:
    """Start the HTTP service (OpenAPI docs at /docs, offline) on the sample region or REGION.

    Several servers may share one PostgreSQL database (``--db postgresql+psycopg://…``) and one
    ``--data-dir`` (a shared disk): each claims queued jobs when it has a free worker."""
    import os

    import uvicorn

    from sqlalchemy.exc import SQLAlchemyError

    from api import store as db_mod
    from api.jobs import default_workers
    from api.service import Settings, StartupError, create_app

    try:
        with steps() as step:
            step(f"loading region {region!r}")
            loaded = open_region(region, cache_dir, progress=step)
            await_kernels(step)
    except (DataError, ValueError) as exc:
        fail(exc)
    new_folder = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if new_folder:
        os.chmod(data_dir, 0o700)  # only the service's user reads the database, snapshots and logs
    url = db or os.environ.get("PLANNER_DB_URL") or db_mod.default_db_url(data_dir)
    try:
        store = db_mod.Store(url)
    except (SQLAlchemyError, ImportError) as exc:
        fail(ValueError(f"cannot open the database {db_mod.safe_url(url)}: {db_mod.database_problem(exc)}"))
    admin = os.environ.get("PLANNER_ADMIN_KEY")
    if store.count_keys() == 0 and not admin:
        _, admin = store.create_key("first admin", "admin")
        key_file = db_mod.private_file(data_dir / "admin-key.txt")  # mode 0600 before the key is written
        key_file.write_text(admin + "\n", encoding="utf-8")
        console.print(f"[bold]first start: admin key[/] {admin}  (also in {key_file}; shown once)")
    store.engine.dispose()
    settings = Settings(regions={"sample" if region == "sample" else Path(region).name or region: loaded}, db_url=url, data_dir=data_dir,
                        admin_key=admin, workers=workers or default_workers(), rate_per_minute=rate_per_minute, max_pending_jobs=max_jobs,
                        inline_solves=inline_solves, inline_per_key=inline_per_key, suggestion_cache_size=int(os.environ.get("PLANNER_SUGGESTION_CACHE", "256")),
                        basemap_dir=(cache_dir or default_cache_dir()) / "basemaps", tianditu_token=os.environ.get("PLANNER_TIANDITU_TOKEN") or None,
                        prepare_basemaps=True, fast_suggestions=os.environ.get("PLANNER_FAST_SUGGESTIONS", "1") != "0",
                        server_timeout_s=server_timeout)
    try:
        application = create_app(settings)
    except StartupError as exc:
        fail(exc)
    console.print(f"serving {loaded.name} at http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def batch(
    spec: Annotated[Path, typer.Argument(help="Batch spec (JSON): name, regions [{id, region}], scenarios [as the API takes them].")],
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Address of a Dask scheduler (tcp://host:8786); "
                                                     "default: a local cluster on this machine.")] = None,
    workers: Annotated[int, typer.Option(help="Local cluster only: worker processes (0: one per core).")] = 0,
    db: Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL of the store the results go to (default: SQLite file in --data-dir).")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for the batch's regions, matrices and snapshots; "
                                           "every worker must see it at this path (a shared disk on several machines).")] = Path("planner-data"),
    cache_dir: CacheOpt = None,
) -> None:
    """Run every scenario of SPEC on every region of SPEC on a Dask cluster; results to the store.

    Region builds, travel-cost matrices and solves are tasks on the workers, passing files, not
    data.  A region that fails is reported and the others go on; run the same spec again to finish
    what failed or was interrupted (what is done is kept)."""
    from sqlalchemy.exc import SQLAlchemyError

    from api import store as db_mod
    from api.batch import BatchSpec, local_cluster, run_batch
    from api.jobs import default_workers

    try:
        parsed = BatchSpec.from_file(spec)
    except DataError as exc:
        fail(exc)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = db or os.environ.get("PLANNER_DB_URL") or db_mod.default_db_url(data_dir)
    try:
        db_mod.Store(url).engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        fail(ValueError(f"cannot open the database {db_mod.safe_url(url)}: {db_mod.database_problem(exc)}"))
    from distributed import Client

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = local_cluster(workers or default_workers())
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        fail(ValueError(f"cannot reach the Dask scheduler at {scheduler}: {' '.join(str(exc).split())[:200]}"))
    n_pairs = len(parsed.regions) * len(parsed.scenarios)
    where = scheduler or f"a local cluster of {len(client.scheduler_info()['workers'])} worker processes"
    console.print(f"batch [bold]{escape(parsed.name)}[/]: {len(parsed.scenarios)} scenarios × {len(parsed.regions)} regions on {escape(where)}")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task("solves", total=n_pairs)

        told: set[tuple[str, str]] = set()

        def event(kind: str, info: dict) -> None:
            if kind in ("done", "failed", "kept"):
                bar.advance(task)
            if kind == "failed":
                again = (info["region"], info["message"]) in told
                told.add((info["region"], info["message"]))
                bar.console.print(f"[red]failed[/] {escape(info['region'])} · {escape(info['scenario'])}: "
                                  + ("(the same reason)" if again else escape(info["message"])))
            elif kind == "built":
                bar.console.print(f"region {escape(info['region'])}: {'built' if info['built'] else 'read'} in {info['seconds']:.1f} s")

        try:
            report = run_batch(parsed, client, db_url=url, data_dir=data_dir, cache_dir=cache_dir, on_event=event)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    done, kept, failed = report.count("done"), report.count("kept"), report.count("failed")
    console.print(f"{done} solved, {kept} kept from an earlier run, {failed} failed, in {report.wall_s:.1f} s; results in {escape(db_mod.safe_url(url))}")
    for region_id, reason in report.failed_regions().items():
        console.print(f"[red]region {escape(region_id)} failed[/]: {escape(reason)}")
    if failed:
        console.print("run the same command again to retry what failed (what is done is kept)")
        raise typer.Exit(code=1)


@app.command()
def plan(
    region: Annotated[str, typer.Argument(help=REGION_HELP)],
    facility: Annotated[str, typer.Option("--facility", help="Facility type: care_centre, meal_point, meal_hall, care_station, care_home … (or its Chinese name).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    model: Annotated[str, typer.Option(help="mclp (cover the most), lscp (cover everyone, fewest sites), pmedian (least total travel), pcenter (shortest longest trip).")] = "mclp",
    n_new: Annotated[Optional[int], typer.Option("--n-new", help="New sites to open.")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Alternatively: total cost of the new sites (the sites' cost column).")] = None,
    min_per_town: Annotated[Optional[int], typer.Option("--min-per-town", help="At least this many facilities (existing or new) in every town with residents of the group.")] = None,
    min_per_community: Annotated[Optional[int], typer.Option("--min-per-community", help="At least this many facilities in every community with residents of the group.")] = None,
    standard_min: Annotated[Optional[float], typer.Option("--standard-min", help="Service standard, minutes of travel (default 15).")] = None,
    standard_m: Annotated[Optional[float], typer.Option("--standard-m", help="Alternatively: service standard in metres of travel.")] = None,
    group: Annotated[str, typer.Option(help="Served group: pop_all, pop_60, pop_80, pop_alone.")] = "pop_60",
    mode: Annotated[str, typer.Option(help="walk or drive.")] = "walk",
    existing_sites: Annotated[str, typer.Option("--existing-sites", help="keep (existing facilities stay open), closable, or ignore.")] = "keep",
    coords_out: Annotated[Optional[list[str]], typer.Option("--coords-out", help="Add coordinates in gcj02 (Amap) or bd09 (Baidu) beside WGS-84 (repeatable).")] = None,
    lang: Annotated[str, typer.Option(help="Language of units.csv and plan.xlsx: zh or en (the maps come in both).")] = "zh",
    name: Annotated[Optional[str], typer.Option(help="Plan name (default from the facility type).")] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for the solver.")] = 120.0,
    cache_dir: CacheOpt = None,
) -> None:
    """Plan facilities on REGION and write plan.json, sites.geojson, units.csv, plan.xlsx and offline maps to OUT."""
    from api.plan_files import write_plan_files
    from geodata.chinacoords import normalise_coord_system
    from geodata.vocabulary import FACILITY_TYPES, normalise_facility_type
    from planner.location.problem import InfeasibleProblem
    from planner.report import headline
    from planner.scenario import Scenario, run_scenario

    try:
        if lang not in ("zh", "en"):
            raise ValueError(f"--lang must be zh or en, not {lang!r}")
        facility_type = normalise_facility_type(facility)
        if facility_type is None:
            raise ValueError(f"--facility: unknown facility type {facility!r}; use one of {', '.join(FACILITY_TYPES)}")
        systems = [normalise_coord_system(c) for c in coords_out or []]
        if standard_min is None and standard_m is None:
            standard_min = 15.0
        unit_min = {k: float(v) for k, v in (("town", min_per_town), ("community", min_per_community)) if v}
        if model in ("mclp", "pmedian", "pcenter") and n_new is None and budget is None:
            raise ValueError(f"--n-new: the {model} model needs the number of new sites (or --budget)")
        scenario = Scenario(
            name=name or f"{FACILITY_TYPES[facility_type]['zh']} / {FACILITY_TYPES[facility_type]['en']}", facility_type=facility_type, model=model,
            group=group, mode=mode, standard_min=standard_min, standard_m=standard_m, n_new=n_new, budget=budget, existing=existing_sites,
            unit_min=unit_min, time_limit=time_limit,
        )
        with steps() as step:
            step(f"loading region {region!r}")
            loaded = open_region(region, cache_dir, progress=step)
            _check_facility_present(loaded, facility_type)
            step(f"planning: {scenario.describe('en')}")
            result = run_scenario(loaded, scenario)
            step(f"writing to {out}")
            step("offline basemap (made once per region, then reused)")
            basemap = offline_basemap(loaded, cache_dir)
            written = write_plan_files(loaded, result, out, lang=lang, coords_out=systems, basemap=basemap)
    except InfeasibleProblem as exc:
        fail(ValueError(f"{exc}{_site_files_hint(loaded)}" if "loaded" in locals() else str(exc)))
    except (DataError, ValueError) as exc:
        fail(exc)
    table = Table(title=f"{result.scenario.name} · {loaded.name}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in headline(result.to_dict(), "en"):
        table.add_row(escape(key), escape(value))
    console.print(table)
    console.print("[bold]files written:[/]")
    for path in written:
        console.print(f"  {path}")


@app.command()
def hierarchy(
    region: Annotated[str, typer.Argument(help=REGION_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    levels: Annotated[Optional[Path], typer.Option("--levels", help="JSON file with the levels (default: the work plan's 市级龙头 / 镇街示范 / 村居场所).")] = None,
    group: Annotated[str, typer.Option(help="Served group: pop_all, pop_60, pop_80, pop_alone.")] = "pop_60",
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for the solver.")] = 120.0,
    cache_dir: CacheOpt = None,
) -> None:
    """Plan a facility hierarchy on REGION as one problem (a city flagship, a centre per town, a
    venue per community by default) and write hierarchy.json and sites.geojson to OUT."""
    from pydantic import ValidationError

    from api.hierarchy import hierarchy_geojson, hierarchy_task
    from api.schemas import HierarchyIn
    from geodata.export import write_json
    from planner.location.problem import InfeasibleProblem
    from planner.scenario import run_hierarchy

    try:
        body: dict[str, Any] = {"group": group, "time_limit": time_limit}
        if levels is not None:
            try:
                body["levels"] = json.loads(levels.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"--levels: cannot read {levels.name}: {exc}") from exc
        try:
            spec = HierarchyIn(**body).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"--levels: {'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None
        task = hierarchy_task(spec)
        with steps() as step:
            step(f"loading region {region!r}")
            loaded = open_region(region, cache_dir, progress=step)
            step(f"planning {len(task.levels)} levels as one problem")
            result = run_hierarchy(loaded, list(task.levels), group=task.group, mode=task.mode, time_limit=task.time_limit)
            out.mkdir(parents=True, exist_ok=True)
            written = [write_json(out / "hierarchy.json", result), out / "sites.geojson"]
            (out / "sites.geojson").write_text(hierarchy_geojson(result), encoding="utf-8")
    except InfeasibleProblem as exc:
        fail(ValueError(str(exc)))
    except (DataError, ValueError) as exc:
        fail(exc)
    table = Table(title=f"{spec['name']} · {loaded.name}")
    for column in ("level", "per", "sites (existing/new)", "covered", "compliant"):
        table.add_column(column)
    for level in result["levels"]:
        new = sum(1 for s in level["sites"] if s["plan_status"] == "new")
        table.add_row(escape(level["name"]), level["unit_level"], f"{len(level['sites']) - new}/{new}",
                      f"{level['covered_share']:.1%}" if level["covered_share"] is not None else "–", "yes" if level["compliant"] else "NO")
    console.print(table)
    s = result["solver"]
    console.print("proven optimal" if s["proven_optimal"] else f"within {100 * s['gap']:.2f} % of the best possible (bound {s['bound']:,.1f})")
    console.print("[bold]files written:[/]")
    for path in written:
        console.print(f"  {path}")


@app.command()
def visits(
    region: Annotated[str, typer.Argument(help=REGION_HELP)],
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    town: Annotated[Optional[str], typer.Option(help="One town (unit id or name); default the whole region.")] = None,
    visits_per_month: Annotated[int, typer.Option("--visits-per-month", help="Visits each elder living alone receives.")] = 2,
    visitor_capacity: Annotated[int, typer.Option("--visitor-capacity", help="Elders one visitor takes on.")] = 25,
    weekdays: Annotated[str, typer.Option(help="Visiting days, 1 = Monday.")] = "1,2,3,4,5",
    max_travel_min: Annotated[float, typer.Option("--max-travel-min", help="Longest walk from a visitor's base to an elder, minutes.")] = 20.0,
    cache_dir: CacheOpt = None,
) -> None:
    """Home-visit rounds for elders living alone on REGION for one month: who visits whom on which
    days, and who is short of visits and why (JSON and CSV, UTF-8) to OUT."""
    import re

    from geodata.export import write_csv, write_json
    from planner.routing.visits import plan_region_visits

    try:
        found = re.fullmatch(r"(\d{4})-(\d{1,2})", month.strip())
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise ValueError(f"--month must be YYYY-MM, not {month!r}")
        with steps() as step:
            step(f"loading region {region!r}")
            loaded = open_region(region, cache_dir, progress=step)
            town_id = None
            if town:
                towns = loaded.units[loaded.units["level"] == "town"]
                match = towns[(towns["unit_id"] == town) | (towns["name"] == town)]
                if match.empty:
                    raise ValueError(f"--town: no town {town!r} in region '{loaded.name}'")
                town_id = str(match["unit_id"].iloc[0])
            step("planning the month's visits")
            result = plan_region_visits(loaded, year=int(found.group(1)), month=int(found.group(2)), town=town_id, visits_per_month=visits_per_month,
                                        visitor_capacity=visitor_capacity, weekdays=weekdays, max_travel_min=max_travel_min)
            written = [write_json(out / "visits.json", {"summary": result.summary, "visitors": result.visitors.to_dict("records"),
                                                        "unserved": result.unserved.to_dict("records")}),
                       write_csv(result.calendar, out / "visits-calendar.csv"), write_csv(result.assignment, out / "visits-assignment.csv"),
                       write_csv(result.unserved, out / "visits-short.csv")]
    except (DataError, ValueError) as exc:
        fail(exc)
    s = result.summary
    console.print(f"{s['elders_with_all_visits']} of {s['elders']} elders living alone get all {visits_per_month} visits in {s['month']}")
    if s.get("bases_note"):
        console.print(escape(s["bases_note"]["en"]))
    console.print("[bold]files written:[/]")
    for path in written:
        console.print(f"  {path}")


def _check_facility_present(region: Region, facility_type: str) -> None:
    """Refuse a plan for a facility type the region has no site of, naming the types it has."""
    from planner.scenario import FAMILIES

    family = FAMILIES.get(facility_type, (facility_type,))
    if region.sites["type"].isin(family).any():
        return
    present = region.sites.groupby(["type", "status"]).size()
    have = ", ".join(f"{t}/{s} ({n})" for (t, s), n in present.items()) or "none"
    files = [x.get("path") for x in region.provenance.get("sources", {}).get("sites", []) if x.get("path")]
    raise DataError(f"no existing or candidate site of type {facility_type} in region '{region.name}' (sites present: {have}); "
                    f"give the type with --site-type or a type column when building the region",
                    source=", ".join(Path(f).name for f in files) or None, field="type")


def _site_files_hint(region: Region) -> str:
    files = [Path(x["path"]).name for x in region.provenance.get("sources", {}).get("sites", []) if x.get("path")]
    return f" (site files: {', '.join(files)}; field town)" if files else ""


def _sample_sources() -> RegionSources:
    from geodata.sample import sample_sources

    return sample_sources()


# ---------------------------------------------------------------------- region commands
def _population_kind(kind: str | None, path: Path | None) -> str:
    """The population source kind: as given, else from the file's suffix (table → points, raster, polygons → census)."""
    if kind:
        return kind
    if path is None:
        return "buildings"
    suffix = path.suffix.lower()
    if suffix in {".tif", ".tiff", ".vrt", ".img"}:
        return "raster"
    if suffix in {".csv", ".txt", ".tsv", ".xlsx", ".xls", ".xlsm"}:
        return "points"
    return "census"


def _typed_file(value: str, default_type: str | None) -> tuple[str, str | None]:
    """``"rescue_station=stations.csv"`` → (``"stations.csv"``, ``"rescue_station"``); a plain path keeps ``default_type``."""
    from geodata.vocabulary import normalise_facility_type

    head, sep, tail = value.partition("=")
    if sep and tail and normalise_facility_type(head):
        return tail, normalise_facility_type(head)
    return value, default_type


@region_app.command("build")
def region_build(
    name: Annotated[Optional[str], typer.Option(help="Region name (Chinese fine).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="JSON file of RegionSources (overrides the other options).")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Build the bundled sample region.")] = False,
    pbf: Annotated[Optional[Path], typer.Option(help="OSM PBF extract (a city's, or a province's: clipped to the boundary).")] = None,
    osm_xml: Annotated[Optional[Path], typer.Option("--osm-xml", help="OSM XML file (osmnx).")] = None,
    graphml_walk: Annotated[Optional[Path], typer.Option("--graphml-walk", help="GraphML walk network (osmnx).")] = None,
    graphml_drive: Annotated[Optional[Path], typer.Option("--graphml-drive", help="GraphML drive network (osmnx).")] = None,
    place: Annotated[Optional[str], typer.Option(help="Download by place name with osmnx (needs internet; cached).")] = None,
    no_network: Annotated[bool, typer.Option("--no-network", help="No road network: travel times are straight-line distance × the detour factor at the standard speeds (said on every output).")] = False,
    detour_factor: Annotated[float, typer.Option("--detour-factor", help="With --no-network: road distance ≈ straight distance × this.")] = 1.3,
    modes: Annotated[str, typer.Option(help="Comma-separated modes: walk,drive.")] = "walk,drive",
    boundary: Annotated[Optional[Path], typer.Option(help="Boundary polygon file.")] = None,
    admin: Annotated[Optional[list[Path]], typer.Option(help="Admin-unit file (repeatable).")] = None,
    name_field: Annotated[str, typer.Option(help="Name field of the admin files.")] = "name",
    level_field: Annotated[Optional[str], typer.Option(help="Level field of the admin files (values city/town/community or 市/镇街/社区).")] = None,
    level: Annotated[Optional[str], typer.Option(help="Fixed level of all admin units (city/town/community).")] = None,
    zones: Annotated[str, typer.Option(help="Without admin files: 'places' (OSM place names) or 'h3'.")] = "places",
    population: Annotated[Optional[str], typer.Option(help="raster | census | points | buildings (estimate); default from the file's type.")] = None,
    population_file: Annotated[Optional[Path], typer.Option("--population-file", help="Population raster/polygons/table.")] = None,
    column: Annotated[Optional[list[str]], typer.Option("--column", help="TARGET=SOURCE: which column of the population/site tables holds pop_all, pop_60, pop_80, alone, name, lon, lat, town, community, capacity, cost (repeatable; Chinese headers such as 常住人口, 60岁以上, 经度 are known without it).")] = None,
    sites: Annotated[Optional[list[str]], typer.Option(help="Sites file with a status column (existing/candidate, 现有/候选) (repeatable; TYPE=FILE gives its facility type).")] = None,
    existing: Annotated[Optional[list[str]], typer.Option("--existing", help="File of existing facilities, no status column needed (repeatable; TYPE=FILE gives its type, e.g. rescue_station=stations.csv).")] = None,
    candidates: Annotated[Optional[list[str]], typer.Option("--candidates", help="File of candidate sites, no status column needed (repeatable; TYPE=FILE gives its type).")] = None,
    site_type: Annotated[Optional[str], typer.Option(help="Facility type for site files without a type column (e.g. care_centre, meal_point, 居家社区养老服务中心).")] = None,
    patrol_spots: Annotated[Optional[list[Path]], typer.Option("--patrol-spots", help="Your own patrol spots (name, lon/lat, kind such as 桥底/车站/公园, priority 1–5) (repeatable).")] = None,
    coords: Annotated[str, typer.Option(help="Coordinate system of every input's numbers: wgs84, gcj02 (Amap/Tencent, also boundaries traced on Amap), bd09 (Baidu).")] = "wgs84",
    admin_coords: Annotated[Optional[str], typer.Option("--admin-coords", help="Coordinate system of the admin/boundary files (overrides --coords).")] = None,
    population_coords: Annotated[Optional[str], typer.Option("--population-coords", help="Coordinate system of the population file (overrides --coords).")] = None,
    sites_coords: Annotated[Optional[str], typer.Option("--sites-coords", help="Coordinate system of the site files (overrides --coords).")] = None,
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
            given = sum(x is not None for x in (pbf, osm_xml, place)) + bool(graphml_walk or graphml_drive) + bool(no_network)
            if given != 1:
                raise DataError("give exactly one network source: --pbf, --osm-xml, --graphml-walk/--graphml-drive, --place or --no-network (or --sample / --config)")
            if pbf:
                net = NetworkSource(kind="pbf", path=str(pbf))
            elif osm_xml:
                net = NetworkSource(kind="xml", path=str(osm_xml))
            elif place:
                net = NetworkSource(kind="online", place=place)
            elif no_network:
                net = NetworkSource(kind="none")
            else:
                net = NetworkSource(kind="graphml", paths={k: str(v) for k, v in (("walk", graphml_walk), ("drive", graphml_drive)) if v})
            site_files = []
            for values, status in ((sites, None), (existing, "existing"), (candidates, "candidate")):
                for value in values or []:
                    path, ftype = _typed_file(value, site_type)
                    site_files.append(SiteSource(path, coords=sites_coords, default_type=ftype, default_status=status))
            default_name = place or (pbf or osm_xml or graphml_walk or graphml_drive or (admin or [None])[0] or boundary)  # type: ignore[operator]
            sources = RegionSources(
                name=name or (default_name if isinstance(default_name, str) else default_name.stem if default_name else "region"),
                network=net,
                modes=[m.strip() for m in modes.split(",") if m.strip()],
                boundary=str(boundary) if boundary else None,
                boundary_coords=admin_coords,
                admin=[AdminSource(str(p), name_field=name_field, level_field=level_field, level=level, coords=admin_coords) for p in admin or []],
                zones=zones,
                population=PopulationSource(kind=_population_kind(population, population_file), path=str(population_file) if population_file else None,
                                            coords=population_coords),
                sites=site_files,
                patrol_spots=[SiteSource(str(p), coords=sites_coords) for p in patrol_spots or []],
                osm_sites=pbf is not None,
                coords=coords,
                columns=parse_column_mappings(column),
                detour_factor=detour_factor,
            )
        with steps() as step:
            region, directory, cached = load_or_build(sources, cache_dir, progress=step, rebuild=rebuild)
            if out:
                step(f"saving to {out}")
                region.save(out)
    except (DataError, ValueError) as exc:
        fail(exc)
    console.print(summary_table(region))
    print_issues(region)
    console.print(f"region cache: {directory} ({'loaded' if cached else 'built'})" + (f"; saved to {out}" if out else ""))


@region_app.command("example-files")
def region_example_files(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("city-files"),
    coords: Annotated[str, typer.Option(help="System of the numbers written: gcj02 (as traced on Amap), bd09 or wgs84.")] = "gcj02",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 0,
) -> None:
    """Write a SYNTHETIC 33-town city's files in a bureau's format (GCJ-02 boundaries labelled CRS84,
    a GBK population CSV, existing centres without a status column, candidate sites) to try
    'planner region build --no-network' and 'planner plan' on."""
    from geodata.bureau_files import china_city_spec, write_bureau_files

    try:
        files = write_bureau_files(out, china_city_spec(seed), coords=coords)
    except (DataError, ValueError) as exc:
        fail(exc)
    console.print("[bold]SYNTHETIC example files (not a real place):[/]")
    for key, path in files.items():
        console.print(f"  {key}: {path}")


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
        print_issues(loaded)


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
