"""The ``fab`` command line: convert -> simulate -> morph -> export.

Every command reports bad input as one line on stderr and exits with status 2 (no traceback).
Progress goes to stderr; ``--json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape as markup_escape
from rich.table import Table

from exporters.printers import DEFAULT_PRINTER, builtin_printers
from fab.console import live_options, print_json, reports_user_errors, stdout_console
from fab.errors import FabError
from fab.live import LiveFlag, LiveHost, LiveOptions, LivePort, LiveToken
from fab.progress import stderr_console

# Shown in --help without importing the heavy modules that own them (tests/test_docs.py checks they agree).
DEFAULT_COUNT = 100_000  # fab.job.DEFAULT_COUNT
DEFAULT_MEMORY_LIMIT_MB = 4096.0  # fab.voxels.DEFAULT_MEMORY_LIMIT_MB
INFILL_PATTERNS = ("rectilinear", "grid")  # exporters.slicer.INFILL_PATTERNS

app = typer.Typer(
    name="fab",
    help="bits2atoms: import CAD parts, voxelize them, stress-test them with a particle engine, "
    "and write fabrication files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: typer's rich help renderer imports markdown and pygments lexers (about 0.3 s of a 0.5 s
    # `fab --help`); the commands' own output still uses rich.
    rich_markup_mode=None,
)


@app.callback()
def fab() -> None:
    """bits2atoms: import CAD parts, voxelize them, stress-test them with a particle engine, and write
    fabrication files (STL, G-code, CNC, voxel assembly plans)."""


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """``["length=60", "name=abc"]`` -> ``{"length": 60, "name": "abc"}`` (numbers parsed as numbers)."""
    params: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise FabError(f"--param expects NAME=VALUE, got {item!r}")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        params[key.strip()] = value
    return params


def print_convert_summary(summary: dict) -> None:
    part, vox, timing = summary["part"], summary["voxels"], summary["timing_s"]
    table = Table(title=f"fab convert: {part['source']}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    lo, hi = part["bbox_mm"]
    size = [h - l for l, h in zip(lo, hi, strict=True)]
    table.add_row("part volume", f"{part['volume_mm3']:.3f} mm^3")
    table.add_row("bounding box", " x ".join(f"{s:.3f}" for s in size) + " mm")
    table.add_row(
        "triangles", f"{part['triangles']:,} ({'watertight' if part['watertight'] else 'NOT watertight'})"
    )
    table.add_row("grid", " x ".join(str(s) for s in vox["shape"]) + f" at {vox['pitch_mm']:.4g} mm")
    table.add_row("voxels", f"{vox['count']:,}")
    table.add_row("voxel volume", f"{vox['volume_mm3']:.3f} mm^3 ({vox['volume_error_pct']:+.3f} % vs part)")
    table.add_row("written", ", ".join(summary["outputs"]))
    table.add_row(
        "seconds",
        ", ".join(f"{k} {v:.3f}" for k, v in timing.items() if k != "total")
        + f"; total {timing['total']:.3f}",
    )
    stdout_console.print(table)


@app.command()
@reports_user_errors
def convert(
    part: Annotated[
        Path,
        typer.Argument(help="CadQuery script (.py), STEP (.step/.stp) or mesh (.stl/.obj/.ply/.off/.3mf)."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Voxel grid to write (.npz; default: NAME.voxels.npz in the current folder)."),
    ] = None,
    pitch: Annotated[
        float | None, typer.Option(help="Voxel edge in mm (default: the pitch that gives --count voxels).")
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(help=f"Target number of filled voxels, when no --pitch is given (default: {DEFAULT_COUNT:,}).")
    ] = None,
    units: Annotated[
        str, typer.Option(help="Units of the input file: mm, m or in (converted to mm).")
    ] = "mm",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="CadQuery script parameter NAME=VALUE (repeatable)."),
    ] = None,
    tolerance: Annotated[float, typer.Option(help="B-rep tessellation tolerance in mm.")] = 0.01,
    memory_limit_mb: Annotated[
        float, typer.Option(help="Refuse grids needing more memory than this many MB.")
    ] = DEFAULT_MEMORY_LIMIT_MB,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Import a part, voxelize it and save the voxel grid (.npz)."""
    from fab.convert import convert as run_convert

    if pitch is not None and count is not None:
        raise FabError("give either --pitch (mm) or --count (voxels), not both")
    if pitch is None and count is None:
        count = DEFAULT_COUNT
    summary = run_convert(
        part,
        output,
        pitch=pitch,
        count=count,
        units=units,
        params=parse_params(param),
        tolerance_mm=tolerance,
        memory_limit_mb=memory_limit_mb,
        quiet=False,
    )
    if as_json:
        print_json(summary)
    else:
        print_convert_summary(summary)


@app.command()
@reports_user_errors
def export(
    source: Annotated[
        Path, typer.Argument(help="A part (CadQuery script, STEP, mesh) or a saved voxel grid (.npz).")
    ],
    stl: Annotated[Path | None, typer.Option(help="STL (or .3mf) to write.")] = None,
    gcode: Annotated[Path | None, typer.Option(help="FDM G-code to write (Marlin).")] = None,
    cnc: Annotated[
        Path | None, typer.Option(help="CNC/laser profile-cutting G-code to write (flat parts).")
    ] = None,
    dxf: Annotated[Path | None, typer.Option(help="DXF of the flat outline to write.")] = None,
    svg: Annotated[Path | None, typer.Option(help="SVG of the flat outline to write.")] = None,
    assembly: Annotated[Path | None, typer.Option(help="Voxel assembly plan (JSON) to write.")] = None,
    vox: Annotated[Path | None, typer.Option(help="MagicaVoxel .vox to write.")] = None,
    binvox: Annotated[Path | None, typer.Option(help=".binvox to write.")] = None,
    vtk: Annotated[Path | None, typer.Option(help="VTK image (.vti) of the voxel grid to write.")] = None,
    vxa: Annotated[
        Path | None, typer.Option(help="VoxCAD/voxcraft .vxa (or .vxc) of an assembly plan's lattice to write.")
    ] = None,
    part_type: Annotated[
        str | None, typer.Option(help="--vxa: every voxel of the plan is this part type (default: the plan's own).")
    ] = None,
    output: Annotated[
        list[Path] | None,
        typer.Option(
            "--output",
            "-o",
            help="A file to write, its kind from its suffix (any registered exporter, exporters/__init__.py); "
            "repeatable.",
        ),
    ] = None,
    pitch: Annotated[
        float | None,
        typer.Option(help="Voxel edge in mm, for voxel outputs from a part (no default: they need --pitch or --count)."),
    ] = None,
    count: Annotated[int | None, typer.Option(help="Target voxel count instead of --pitch.")] = None,
    units: Annotated[str, typer.Option(help="Units of the input file: mm, m or in.")] = "mm",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="CadQuery parameter NAME=VALUE.")
    ] = None,
    printer: Annotated[
        str,
        typer.Option(help=f"Printer profile: built-in name ({', '.join(builtin_printers())}) or TOML file."),
    ] = DEFAULT_PRINTER,
    layer_height: Annotated[
        float | None, typer.Option(help="Layer height in mm (default: the printer's).")
    ] = None,
    infill: Annotated[float, typer.Option(help="Sparse infill density 0..1 (1: solid).")] = 0.2,
    infill_pattern: Annotated[
        str, typer.Option(help=f"Sparse infill pattern: {' or '.join(INFILL_PATTERNS)}.")
    ] = "rectilinear",
    perimeters: Annotated[int, typer.Option(help="Number of perimeters (walls).")] = 2,
    top_layers: Annotated[int, typer.Option(help="Solid layers under every top surface.")] = 4,
    bottom_layers: Annotated[int, typer.Option(help="Solid layers over every bottom surface.")] = 4,
    material: Annotated[
        str,
        typer.Option(help="What the part is made of: the G-code's temperatures and fan, an assembly plan's voxels (PLA, PETG, ABS, PA12)."),
    ] = "PLA",
    filament: Annotated[
        Path | None,
        typer.Option(help="Filament TOML (name, nozzle_temp, bed_temp, fan_percent, density) instead of --material."),
    ] = None,
    tool: Annotated[str, typer.Option(help="CNC tool profile: built-in name or TOML file.")] = "endmill-3.175-wood",
    flavor: Annotated[str, typer.Option(help="CNC G-code flavour: grbl or linuxcnc.")] = "grbl",
    tabs: Annotated[
        int | None,
        typer.Option(help="Holding tabs per outer contour (CNC; default: 4 when the tool defines tab sizes, else 0)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Write STL, G-code, CNC, voxel assembly plans and viewer files for a part or a voxel grid; a VoxCAD .vxa
    lattice for an assembly plan (.json)."""
    from exporters import exporter_for
    from fab.export import export as run_export

    if source.suffix.lower() == ".json" or vxa is not None or part_type is not None:
        from fab.lattice import export_vxa

        others = [k for k, v in dict(stl=stl, gcode=gcode, cnc=cnc, dxf=dxf, svg=svg, assembly=assembly, vox=vox,
                                     binvox=binvox, vtk=vtk).items() if v is not None] + list(output or [])  # fmt: skip
        if source.suffix.lower() != ".json" or vxa is None or others:
            raise FabError("--vxa (and --part-type) write an assembly plan's lattice: fab export PLAN.json --vxa "
                           "OUT.vxa, no other outputs")  # fmt: skip
        info = export_vxa(source, vxa, part_type=part_type)
        if as_json:
            print_json({"source": str(source), "outputs": {"vxa": info}})
        else:
            stdout_console.print(f"{info['path']}: {info['voxels']} voxels, {info['materials']} material(s)")
        return

    files = dict(stl=stl, gcode=gcode, cnc=cnc, dxf=dxf, svg=svg, assembly=assembly, vox=vox, binvox=binvox, vtk=vtk)
    for path in output or []:
        exporter = exporter_for(path)
        if exporter is None:
            raise FabError(f"--output {path}: no exporter writes {path.suffix or 'files without a suffix'}")
        if files.get(exporter.name) is not None:
            raise FabError(f"--output {path}: a {exporter.name} file is already asked for ({files[exporter.name]})")
        files[exporter.name] = path
    settings = {
        k: v
        for k, v in dict(
            layer_height=layer_height,
            infill=infill,
            infill_pattern=infill_pattern,
            perimeters=perimeters,
            top_layers=top_layers,
            bottom_layers=bottom_layers,
        ).items()
        if v is not None
    }
    summary = run_export(
        source,
        **files,
        pitch=pitch,
        count=count,
        units=units,
        params=parse_params(param),
        printer=printer,
        slicer_settings=settings,
        material=material,
        filament=filament,
        tool=tool,
        flavor=flavor,
        tabs=tabs,
    )
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"fab export: {summary['source']}", title_justify="left")
    table.add_column("kind", style="bold")
    table.add_column("file")
    table.add_column("figures")
    for kind, info in summary["outputs"].items():
        figures = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in info.items()
            if k != "path" and isinstance(v, int | float | str | bool)
        )
        table.add_row(kind, info["path"], figures)
    stdout_console.print(table)


def _print_run_summary(summary: dict, report) -> None:
    from fab.report import print_summary

    outputs = [str(v) for v in summary.get("outputs", {}).values()]
    if "mass_refined_g" in summary:
        from fab.refine import refine_lines

        for line in refine_lines(summary):
            stdout_console.print(line, highlight=False, soft_wrap=True)
        return
    if report is not None:
        print_summary(report, outputs, summary["timing_s"])
        return
    table = Table(title="fab run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("part", f"{summary['part']['volume_mm3']:.4g} mm^3")
    table.add_row("voxels", f"{summary['voxels']['count']:,} at {summary['voxels']['pitch_mm']:g} mm")
    table.add_row("written", ", ".join(outputs) or "-")
    stdout_console.print(table)


def _print_lattice(summary: dict, report, as_json: bool) -> None:
    """The report of an assembly plan's stress test (fab simulate / fab run on a plan)."""
    if as_json:
        print_json(summary)
        return
    for line in report.lines() + [f"written: {v}" for v in summary["outputs"].values()]:
        stdout_console.print(line, highlight=False, soft_wrap=True)


def _exit_if_not_converged(report, summary: dict) -> None:
    """Exit status 3 (after the results were printed and written) when the solver stopped short."""
    if report is None or report.converged:
        return
    from rich.markup import escape

    from fab.report import not_converged

    written = ", ".join(str(v) for v in summary.get("outputs", {}).values())
    stderr_console.print(
        f"[red]error:[/red] the {report.test} test: {escape(not_converged(report))}"
        + (f"; partial results written to {written}" if written else ""),
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=3)


def _with_live_view(options, title: str, work: Callable[[Any], Any]) -> Any:
    """Run ``work(view)`` with the live page of a stress test open (``view`` None without --live)."""
    if options is None:
        return work(None)
    from fab.live.simulation import open_simulation_view

    server, view = open_simulation_view(options, title, quiet=False)
    try:
        return work(view)
    finally:
        server.close()


@app.command()
@reports_user_errors
def simulate(
    target: Annotated[
        Path,
        typer.Argument(
            help="A job file (.toml), or a part (CadQuery script, STEP, mesh) with the quick flags."
        ),
    ],
    material: Annotated[str, typer.Option(help="Built-in material name (see docs/materials.md).")] = "PLA",
    pitch: Annotated[
        float | None, typer.Option(help="Particle spacing in mm (default: the pitch that gives --count particles).")
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(help=f"Target number of particles, when no --pitch is given (default: {DEFAULT_COUNT:,})."),
    ] = None,
    fix: Annotated[
        list[str] | None, typer.Option(help="Region held fixed, e.g. '<X' (repeatable; docs/job-file.md).")
    ] = None,
    load: Annotated[
        list[str] | None,
        typer.Option(help="REGION:force=Fx,Fy,Fz (N), torque= (N*m), displacement= (mm) or velocity= (m/s)."),
    ] = None,
    test: Annotated[str, typer.Option(help="static, failure, shear or impact.")] = "static",
    units: Annotated[
        str, typer.Option(help="Units of the part file's numbers: mm, cm, m, in or ft (converted to mm).")
    ] = "mm",
    model: Annotated[
        str,
        typer.Option(
            help="Force law by name: lps (any Poisson ratio), pmb, or any law registered in physics.laws "
            "(docs/physics.md)."
        ),
    ] = "lps",
    dimension: Annotated[int, typer.Option(help="3, or 2 for plane stress over an extruded part.")] = 3,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Cap on solver iterations (explicit steps for impact; default: until converged, at most 30,000)."
        ),
    ] = None,
    vtk: Annotated[
        Path | None, typer.Option(help="Results for ParaView: .vtu (or .pvd series for an impact).")
    ] = None,
    png: Annotated[Path | None, typer.Option(help="Picture of the deformed part coloured by stress.")] = None,
    part_types: Annotated[
        Path | None, typer.Option(help="Assembly plans: TOML file of voxel part types (docs/assembly-format.md; default: the built-ins only).")
    ] = None,
    part_type: Annotated[
        str | None, typer.Option(help="Assembly plans: every voxel is this part type (built-in or --part-types; default: the plan's own).")
    ] = None,
    gravity: Annotated[
        str | None, typer.Option(help="Assembly plans: gravity x,y,z in m/s^2 (default 0,0,-9.81).")
    ] = None,
    converge: Annotated[
        bool,
        typer.Option(
            "--converge",
            help="Rerun at pitch/1.4, /1.4^2, ... until the results change by less than 2 %, or the budget stops it; "
            "prints the series and the extrapolated values.",
        ),
    ] = False,
    max_particles: Annotated[
        int, typer.Option(help="--converge: the particle budget of the finest run.")
    ] = 200_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    live: LiveFlag = False,
    host: LiveHost = "127.0.0.1",
    port: LivePort = 0,
    token: LiveToken = None,
) -> None:
    """Stress-test a part (static, failure, shear or impact, with a job file or quick flags) or the structure an
    assembly plan (.json) builds (static or failure, voxel-joint law).

    Exit status 3 when the solver did not reach equilibrium (the partial results are still written).
    """
    from dataclasses import replace

    from fab.job import job_from_flags, load_job
    from fab.run import simulate_job

    options = live_options(live, host, port, token)
    lattice = target.suffix.lower() == ".json" or (
        target.suffix.lower() == ".npz" and (part_type is not None or part_types is not None)
    )
    if lattice:  # an assembly plan, or a voxel grid of voxel parts
        from fab.lattice import simulate_plan

        if options is not None:
            raise FabError("--live shows the stress test of a part or job file, not of an assembly plan")
        quick = {"--pitch": pitch, "--count": count, "--steps": steps}
        given = [name for name, value in quick.items() if value is not None]
        if given:
            raise FabError(f"{', '.join(given)} apply to a part, not an assembly plan (its lattice sets the voxels)")
        summary, lattice_report = simulate_plan(
            target, fix=fix, load=load, test=test, part_types=part_types, part_type=part_type, gravity=gravity,
            vtk=vtk, png=png,
        )
        _print_lattice(summary, lattice_report, as_json)
        return
    if target.suffix.lower() == ".toml" and (part_types is not None or part_type is not None or gravity is not None):
        raise FabError(
            f"--part-types, --part-type and --gravity apply to an assembly plan (.json): put them in {target.name} "
            "([part] part_types, part_type; [physics] gravity)"
        )
    if part_types is not None or part_type is not None or gravity is not None:
        raise FabError("--part-types, --part-type and --gravity apply to an assembly plan (.json), not to a solid part")
    if target.suffix.lower() == ".toml":
        quick = {"--fix": fix, "--load": load, "--pitch": pitch, "--count": count, "--units": units != "mm"}
        given = [name for name, value in quick.items() if value]
        if given:
            raise FabError(f"{', '.join(given)} apply to a part, not a job file: put them in {target.name}")
        job = load_job(target)
        if job.is_plan:  # a job on an assembly plan: the path of fab simulate PLAN.json
            if options is not None or steps is not None or converge:
                raise FabError("--live, --steps and --converge apply to a solid part, not an assembly plan")
            summary, lattice_report = simulate_job(job, vtk=vtk, png=png, quiet=False)
            _print_lattice(summary, lattice_report, as_json)
            return
        if steps is not None:
            job = replace(job, test=replace(job.test, steps=steps))
    else:
        job = job_from_flags(target, material, pitch, count, fix, load, test, model, dimension, units)
        if steps is not None:
            job = replace(job, test=replace(job.test, steps=steps))
    summary, report = _with_live_view(
        options,
        f"fab simulate {target.name}",
        lambda view: simulate_job(
            job,
            vtk=vtk,
            png=png,
            quiet=False,
            live=view,
            steps_setting="--steps" if target.suffix.lower() != ".toml" else "--steps (or [test] steps)",
            converge=converge,
            max_particles=max_particles,
        ),
    )
    if as_json:
        print_json(summary)
    else:
        _print_run_summary(summary, report)
    _exit_if_not_converged(report, summary)


@app.command()
@reports_user_errors
def run(
    job_file: Annotated[
        Path, typer.Argument(help="Job file (.toml): part, voxels, material, loads, test, export.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    live: LiveFlag = False,
    host: LiveHost = "127.0.0.1",
    port: LivePort = 0,
    token: LiveToken = None,
) -> None:
    """Run a whole job: import -> voxelize -> simulate -> morph -> export, one summary."""
    from fab.job import load_job
    from fab.run import morph_only, run_job

    options = live_options(live, host, port, token)
    if morph_only(job_file):
        from fab.morph.run import run_morph

        summary = run_morph(job_file, quiet=False, live=options)
        if as_json:
            print_json(summary)
        else:
            stdout_console.print_json(data={k: summary[k] for k in ("best", "outputs") if k in summary})
        return
    job = load_job(job_file)
    if job.is_plan:
        if options is not None:
            raise FabError("--live shows the stress test of a solid part, not of an assembly plan")
        summary, lattice_report = run_job(job, quiet=False)
        _print_lattice(summary, lattice_report, as_json)
        return
    if options is not None and not (job.fix or job.load):
        raise FabError(f"{job_file.name} has no stress test ([[fix]] and [[load]]) for --live to show")
    from fab.morph.part_job import is_part_job

    if job.morph is not None and is_part_job(job):
        # Refining the part: --live shows the refinement's search (its own page, as fab morph's), not a single
        # stress test; a quick refinement says it has no search to watch.
        summary, report = run_job(job, quiet=False, live=options)
    else:
        summary, report = _with_live_view(
            options if (job.fix or job.load) else None,
            f"fab run {job_file.name}",
            lambda view: run_job(job, quiet=False, live=view),
        )
    if as_json:
        print_json(summary)
    else:
        _print_run_summary(summary, report)
    _exit_if_not_converged(report, summary)


@app.command("check-assembly")
@reports_user_errors
def check_assembly(
    plan: Annotated[
        Path, typer.Argument(help="Voxel assembly plan (JSON) written by fab export --assembly.")
    ],
    physics: Annotated[
        bool, typer.Option("--physics", help="Also solve every intermediate state (voxel-joint law).")
    ] = False,
    placement_force: Annotated[
        str | None, typer.Option(help="--physics: robot's force on the newest voxel, x,y,z N (default 0,0,-5).")
    ] = None,
    gravity: Annotated[str | None, typer.Option(help="--physics: gravity x,y,z m/s^2 (default 0,0,-9.81).")] = None,
    max_utilisation: Annotated[
        float, typer.Option(help="--physics: refuse the plan when a state's joint load / strength exceeds this.")
    ] = 1.0,
    part_types: Annotated[
        Path | None, typer.Option(help="--physics: TOML file of voxel part types (docs/assembly-format.md; default: the built-ins only).")
    ] = None,
    part_type: Annotated[
        str | None, typer.Option(help="--physics: every voxel is this part type (built-in or --part-types; default: the plan's own).")
    ] = None,
    method: Annotated[str, typer.Option(help="--physics: incremental (warm-started CG) or direct.")] = "incremental",
    workers: Annotated[
        int, typer.Option(help="--physics, incremental: processes, each solving a run of consecutive states.")
    ] = 1,
    replan: Annotated[
        Path | None,
        typer.Option(help="--physics: write an order of the same voxels whose every state stays under the limit (default: no new order)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Check that an assembly plan is buildable; name the first placement that breaks a rule (exit 1). With
    --physics, also that no intermediate state overloads a joint (exit 1 naming the worst state)."""
    from exporters.assembly import check_assembly as check

    if not plan.is_file():
        raise FabError(f"assembly plan not found: {plan}")
    if not physics and (placement_force, gravity, part_types, part_type, replan) != (None,) * 5:
        raise FabError("--placement-force, --gravity, --part-types, --part-type and --replan need --physics")
    violations = check(plan)
    if physics and replan is not None and not violations:
        from exporters.assembly import write_assembly
        from fab.lattice import physics_order

        if replan.suffix.lower() != ".json":
            raise FabError(f"{replan}: the re-planned order is written as a .json assembly plan")
        new, info = physics_order(plan, part_types=part_types, part_type=part_type, gravity=gravity,
                                  placement_force=placement_force, limit=max_utilisation)  # fmt: skip
        write_assembly(new, replan)
        if as_json:
            print_json({"plan": str(plan), "replan": str(replan), **info})
        else:
            stdout_console.print(
                f"{replan}: {info['states']} placements, every state under utilisation {max_utilisation:g} "
                f"(worst {info['worst_utilisation']:.4g})", highlight=False, soft_wrap=True,
            )  # fmt: skip
        return
    if physics and not violations:
        from fab.lattice import check_plan

        result = check_plan(plan, part_types=part_types, part_type=part_type, gravity=gravity,
                            placement_force=placement_force, limit=max_utilisation, method=method,
                            workers=workers, quiet=as_json)  # fmt: skip
        result.pop("utilisation")
        w = result["worst_joint"]
        line = (f"worst state {result['worst_state']} of {result['states']}: joint utilisation "
                f"{result['worst_utilisation']:.4g} at the joint of voxel {tuple(w['voxel_ijk'] or ())} to "
                f"{w['to'] if w['to'] == 'plate' else tuple(w['to'])} ({result['seconds']:.2f} s)")  # fmt: skip
        if as_json:
            print_json({"plan": str(plan), "buildable": result["ok"], "violation": None, "physics": result})
        elif result["ok"]:
            stdout_console.print(f"{plan}: buildable; {line}", highlight=False, soft_wrap=True)
        else:
            stderr_console.print(
                f"[red]not buildable:[/red] state {result['first_state_over_limit']} overloads a joint "
                f"({result['states_over_limit']} state(s) over {max_utilisation:g}); {line}",
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        if not result["ok"]:
            raise typer.Exit(code=1)
        return
    if as_json:
        print_json(
            {
                "plan": str(plan),
                "buildable": not violations,
                "violation": None
                if not violations
                else {
                    "index": violations[0].index,
                    "ijk": list(violations[0].ijk),
                    "rule": violations[0].rule,
                    "message": violations[0].message,
                },
            }
        )
    elif violations:
        stderr_console.print(
            f"[red]not buildable:[/red] {markup_escape(violations[0].message)}", highlight=False, soft_wrap=True
        )
    else:
        stdout_console.print(f"{plan}: buildable")
    if violations:
        raise typer.Exit(code=1)


@app.command()
@reports_user_errors
def view(
    result: Annotated[
        Path,
        typer.Argument(help="Results to show: a .vtu / .pvd (fab simulate --vtk) or a fab morph output folder."),
    ],
    host: LiveHost = "127.0.0.1",
    port: LivePort = 0,
    token: LiveToken = None,
    seconds: Annotated[
        float | None, typer.Option("--for", help="Serve for this many seconds, then exit (default: until Ctrl-C).")
    ] = None,
) -> None:
    """Open the live page on finished results (until Ctrl-C)."""
    from fab.live.view import view as serve

    serve(result, LiveOptions(host=host, port=port, token=token), seconds=seconds)


from fab.morph.command import register as _register_morph  # noqa: E402 (the command needs `app` defined)

_register_morph(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
