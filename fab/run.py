"""The pipeline of a job: import -> voxelize -> simulate -> morph -> export, one summary.

``simulate_job`` is ``fab simulate`` (the stress test and its reports); ``run_job`` is ``fab run`` (everything the
job asks for). Both return the JSON summary: ``part``, ``voxels``, ``physics``, ``result``, ``outputs`` (paths
written) and ``timing_s`` (seconds per stage and ``total``). Lengths in mm, forces in N, stresses in Pa.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from exporters.atomic import Staging, staged
from fab.errors import FabError
from fab.export import check_export
from fab.job import Job
from fab.outputs import check_output_paths
from fab.progress import StageTimer
from fab.stress import StressReport, simulate


def _write_reports(
    report: StressReport, vtk: Path | None, png: Path | None, timer: StageTimer, stage: Staging
) -> dict[str, str]:
    outputs: dict[str, str] = {}
    if vtk is not None:
        with timer.stage("vtk", f"writing {vtk}"):
            # A .pvd series names its frames after itself: it is written in place.
            report.save_vtk(vtk if Path(vtk).suffix.lower() == ".pvd" else stage.path(vtk))
            outputs["vtk"] = str(vtk)
    if png is not None:
        with timer.stage("png", f"rendering {png}"):
            report.save_png(stage.path(png))
            outputs["png"] = str(png)
        if report.test == "failure" and report.curve:  # the load-displacement curve beside the picture
            curve = Path(png).with_name(f"{Path(png).stem}_curve.png")
            report.save_curve_png(stage.path(curve))
            outputs["curve_png"] = str(curve)
    return outputs


def _summary(report: StressReport, grid, outputs: dict[str, Any], timer: StageTimer) -> dict[str, Any]:
    summary = report.as_dict()
    summary["voxels"] = {
        "pitch_mm": grid.pitch,
        "count": grid.count,
        "particles": report.particles,
        "shape": list(grid.shape),
    }
    summary["outputs"] = outputs
    summary["timing_s"] = timer.timings()
    return summary


def _check_results_suffix(vtk: Path) -> None:
    if Path(vtk).suffix.lower() not in (".vtu", ".pvd"):
        raise FabError(f"{vtk}: stress results are particles: write .vtu (or .pvd for an impact)")


def simulate_job(
    job: Job,
    *,
    vtk: Path | None = None,
    png: Path | None = None,
    quiet: bool = False,
    live: Any = None,
    steps_setting: str = "[test] steps",
    converge: bool = False,
    max_particles: int | None = None,
) -> tuple[dict[str, Any], StressReport]:
    """Stress-test the job's part, write the VTK/PNG reports (the job's [export] vtk/png unless given).

    A solve that stops short of equilibrium still returns (``report.converged`` is False, its reason the last
    note) after writing the reports: the caller decides what to make of it. ``live``: the live view
    (fab.live.simulation.SimulationLive) that watches and steers the test.
    """
    if job.is_plan:
        given = [name for name, value in (("converge", converge), ("live", live)) if value]
        if given:
            raise FabError(f"{' and '.join(given)} apply to a solid part, not an assembly plan")
        return simulate_plan_job(job, vtk=vtk, png=png, quiet=quiet)
    vtk = vtk if vtk is not None else job.export.vtk
    png = png if png is not None else job.export.png
    if vtk is not None:
        _check_results_suffix(vtk)
    check_output_paths({"vtk": vtk, "png": png})
    timer = StageTimer(quiet=quiet)
    if converge:  # the test at finer and finer pitches, the finest run's report (fab/convergence.py)
        from fab.convergence import DEFAULT_MAX_PARTICLES
        from fab.convergence import converge as refine
        from fab.part import load_part

        with timer.stage("import", f"importing {job.part.source.name}"):
            part = load_part(job.part.source, params=job.part.params or None, units=job.part.units)
        grids = []

        def one(j: Job):
            report, _part, g = simulate(j, part=part, timer=timer, quiet=quiet, live=live)
            grids.append(g)
            return report, g

        study = refine(job, one, max_particles=max_particles or DEFAULT_MAX_PARTICLES)
        report, grid = study.reports[-1], grids[-1]
        report.convergence = study
    else:
        report, _part, grid = simulate(job, timer=timer, quiet=quiet, live=live)
    report.steps_setting = steps_setting  # what a NOT CONVERGED message tells the person to raise
    with staged() as stage:
        outputs = _write_reports(report, vtk, png, timer, stage)
    summary = _summary(report, grid, outputs, timer)
    if report.convergence is not None:
        summary["convergence"] = report.convergence.as_dict()
    return summary, report


def run_job(job: Job, *, quiet: bool = False, live: Any = None) -> tuple[dict[str, Any], StressReport | None]:
    """Everything the job asks for: the stress test (when it has supports or loads) and every [export] file,
    all inputs checked first and the files renamed into place together at the end. Returns (summary, report
    or None)."""
    if job.is_plan:
        if live is not None:
            raise FabError("the live view shows the stress test of a solid part, not of an assembly plan")
        return simulate_plan_job(job, quiet=quiet)
    check_output_paths(dict(job.export.requested()))
    fabrication = job.export.files()
    if fabrication:  # the printer, filament, tool and settings are checked before the part is simulated
        check_export(
            fabrication, source=job.part.source, pitch=job.voxels.pitch, count=job.voxels.count, material=job.material
        )
    if (job.fix or job.load) and job.export.vtk is not None:
        _check_results_suffix(job.export.vtk)
    if job.export.png is not None and not (job.fix or job.load):
        raise FabError("[export] png pictures a stress test: add [[fix]] and [[load]] regions")
    if job.morph is not None:
        from fab.morph.part_job import is_part_job

        if not is_part_job(job):  # a part job refines the part (below); any other [morph] beside [part] is refused
            _run_morph(job)
    with staged() as stage:
        return _run_job(job, fabrication, stage, quiet, live)


def simulate_plan_job(
    job: Job, *, vtk: Path | None = None, png: Path | None = None, quiet: bool = True
) -> tuple[dict[str, Any], Any]:
    """A job on an assembly plan (``[part] source = "PLAN.json"``): the finished structure's stress test by the
    voxel-joint law, the same path as ``fab simulate PLAN.json`` (fab.lattice.stress_structure), then the
    job's [export] vtk / png (``vtk``, ``png`` override them) and vxa. Returns (summary, LatticeReport)."""
    from fab.lattice import DEFAULT_GRAVITY, export_vxa, stress_structure

    vtk = vtk if vtk is not None else job.export.vtk
    png = png if png is not None else job.export.png
    vxa = dict(job.export.more).get("vxa")
    check_output_paths({"vtk": vtk, "png": png, "vxa": vxa})
    gravity = job.physics.gravity if job.physics.gravity is not None else DEFAULT_GRAVITY
    timer = StageTimer(quiet=quiet)
    with timer.stage("simulate", f"testing the structure of {job.part.source.name}"):
        summary, report = stress_structure(
            job.part.source, fix=[f.region for f in job.fix], loads=list(job.load), test=job.test.kind,
            part_types=job.part.part_types, part_type=job.part.part_type, gravity=gravity, vtk=vtk, png=png,
        )  # fmt: skip
    if vxa is not None:
        with timer.stage("vxa", f"writing {vxa}"):
            info = export_vxa(job.part.source, vxa, part_types=job.part.part_types, part_type=job.part.part_type,
                              gravity=",".join(repr(v) for v in gravity))  # fmt: skip
        summary["outputs"]["vxa"] = info["path"]
    summary["timing_s"] = timer.timings()
    return summary, report


def _run_job(
    job: Job, fabrication: dict[str, Any], stage: Staging, quiet: bool, live: Any
) -> tuple[dict[str, Any], StressReport | None]:
    from fab.export import export
    from fab.part import load_part
    from fab.voxels import voxelize

    timer = StageTimer(quiet=quiet)
    with timer.stage("import", f"importing {job.part.source.name}"):
        part = load_part(job.part.source, params=job.part.params or None, units=job.part.units)
    with timer.stage("voxelize", "voxelizing"):
        grid = voxelize(
            part.mesh, pitch=job.voxels.pitch, count=job.voxels.count, source_sha256=part.source_sha256
        )
    summary: dict[str, Any] = {
        "part": {
            "source": str(job.part.source),
            "volume_mm3": part.volume_mm3,
            "bbox_mm": part.bbox_mm.tolist(),
        },
        "voxels": {"pitch_mm": grid.pitch, "count": grid.count, "shape": list(grid.shape)},
    }
    if job.morph is not None:
        from fab.morph.part_job import is_part_job

        if is_part_job(job):
            # Refine the part: its own failure tests (one a load case) replace [test], and [export] writes the
            # refined part.
            from fab.refine import refine

            # ``live`` here is the CLI's LiveOptions (fab run opens no stress-test page for a part job).
            summary.update(refine(job, part=part, grid=grid, timer=timer, quiet=quiet, live=live))
            summary["timing_s"] = timer.timings()
            return summary, None
    outputs: dict[str, Any] = {}
    report = None
    if job.fix or job.load:
        report, _part, _grid = simulate(job, part=part, grid=grid, timer=timer, quiet=quiet, live=live)
        report.steps_setting = "[test] steps"
        outputs.update(_write_reports(report, job.export.vtk, job.export.png, timer, stage))
        summary.update({k: v for k, v in report.as_dict().items() if k in ("physics", "result")})
        summary["voxels"]["particles"] = report.particles
    elif job.export.vtk is not None:
        from exporters.vtk import write_vti

        with timer.stage("vtk", f"writing {job.export.vtk}"):
            write_vti(grid.occupancy, grid.pitch, grid.origin, stage.path(job.export.vtk))
        outputs["vtk"] = str(job.export.vtk)
    if fabrication:
        result = export(
            part, grid=grid, timer=timer, quiet=quiet, staging=stage, material=job.material, **fabrication
        )
        exports = dict(result["outputs"])
        if job.export.stl is not None and job.export.threemf is not None:  # both: the 3MF is a second mesh file
            result = export(part, stl=job.export.threemf, timer=timer, quiet=quiet, staging=stage)
            exports["threemf"] = result["outputs"]["stl"]
        outputs.update({k: v["path"] for k, v in exports.items()})
        summary["exports"] = exports
    if job.export.voxels is not None:
        with timer.stage("voxels", f"saving {job.export.voxels}"):
            grid.save(stage.path(job.export.voxels))
            outputs["voxels"] = str(job.export.voxels)
    summary["outputs"] = outputs
    summary["timing_s"] = timer.timings()
    return summary, report


def _run_morph(job: Job) -> None:
    raise FabError(
        'a [morph] table beside a [part] refines that part: write problem = "part" (see docs/morphogenesis.md); '
        "the gear and bracket showcases are jobs that hold only a [morph] table"
    )


def morph_only(path: str | os.PathLike[str]) -> bool:
    """True when the job file holds only a [morph] table (a morphogenesis job, read by fab.morph)."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # load_job reports the problem with its line
    return set(data) == {"morph"}
