"""The pipeline of a job: import -> voxelize -> simulate -> morph -> export, one summary.

``simulate_job`` is ``fab simulate`` (the stress test and its reports); ``run_job`` is ``fab run`` (everything the
job asks for). Both return the JSON summary: ``part``, ``voxels``, ``physics``, ``result``, ``outputs`` (paths
written) and ``timing_s`` (seconds per stage and ``total``). Lengths in mm, forces in N, stresses in Pa.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fab.errors import FabError
from fab.job import Job
from fab.progress import StageTimer
from fab.stress import StressReport, simulate


def _write_reports(
    report: StressReport, vtk: Path | None, png: Path | None, timer: StageTimer
) -> dict[str, str]:
    outputs: dict[str, str] = {}
    if vtk is not None:
        with timer.stage("vtk", f"writing {vtk}"):
            outputs["vtk"] = str(report.save_vtk(vtk))
    if png is not None:
        with timer.stage("png", f"rendering {png}"):
            outputs["png"] = str(report.save_png(png))
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


def _check_outputs(paths: dict[str, Path | None]) -> None:
    """Refuse unwritable output folders before hours of simulation, not after."""
    for kind, path in paths.items():
        if path is None:
            continue
        parent = Path(path).resolve().parent
        probe = parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK):
            raise FabError(f"cannot write the {kind} output {path}: {probe} is not a writable folder")


def simulate_job(
    job: Job, *, vtk: Path | None = None, png: Path | None = None, quiet: bool = False, live: Any = None
) -> tuple[dict[str, Any], StressReport]:
    """Stress-test the job's part, write the VTK/PNG reports (the job's [export] vtk/png unless given).

    A solve that stops short of equilibrium still returns (``report.converged`` is False, its reason the last
    note) after writing the reports: the caller decides what to make of it. ``live``: the live view
    (fab.live.simulation.SimulationLive) that watches and steers the test.
    """
    vtk = vtk if vtk is not None else job.export.vtk
    png = png if png is not None else job.export.png
    if vtk is not None and Path(vtk).suffix.lower() == ".vti":
        raise FabError(f"{vtk}: stress results are particles: write .vtu (or .pvd for an impact)")
    _check_outputs({"vtk": vtk, "png": png})
    timer = StageTimer(quiet=quiet)
    report, _part, grid = simulate(job, timer=timer, quiet=quiet, live=live)
    outputs = _write_reports(report, vtk, png, timer)
    summary = _summary(report, grid, outputs, timer)
    return summary, report


def run_job(job: Job, *, quiet: bool = False, live: Any = None) -> tuple[dict[str, Any], StressReport | None]:
    """Everything the job asks for: the stress test (when it has supports or loads), morphogenesis (when it has
    a [morph] table) and every [export] file. Returns (summary, report or None)."""
    from fab.export import export
    from fab.part import load_part
    from fab.voxels import voxelize

    requested = job.export.requested()
    _check_outputs(dict(requested))
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

            summary.update(refine(job, part=part, grid=grid, timer=timer, quiet=quiet))
            summary["timing_s"] = timer.timings()
            return summary, None
    outputs: dict[str, Any] = {}
    report = None
    if job.fix or job.load:
        report, _part, _grid = simulate(job, part=part, grid=grid, timer=timer, quiet=quiet, live=live)
        outputs.update(_write_reports(report, job.export.vtk, job.export.png, timer))
        summary.update({k: v for k, v in report.as_dict().items() if k in ("physics", "result")})
        summary["voxels"]["particles"] = report.particles
    elif job.export.vtk is not None or job.export.png is not None:
        if job.export.png is not None:
            raise FabError("[export] png pictures a stress test: add [[fix]] and [[load]] regions")
        from exporters.vtk import write_vti

        with timer.stage("vtk", f"writing {job.export.vtk}"):
            write_vti(grid.occupancy, grid.pitch, grid.origin, job.export.vtk)
        outputs["vtk"] = str(job.export.vtk)
    if job.morph is not None:
        summary["morph"] = _run_morph(job, timer, outputs, quiet)
    fabrication = job.export.files()
    if fabrication:
        result = export(part, grid=grid, timer=timer, quiet=quiet, **fabrication)
        exports = dict(result["outputs"])
        if job.export.stl is not None and job.export.threemf is not None:  # both: the 3MF is a second mesh file
            result = export(part, stl=job.export.threemf, timer=timer, quiet=quiet)
            exports["threemf"] = result["outputs"]["stl"]
        outputs.update({k: v["path"] for k, v in exports.items()})
        summary["exports"] = exports
    if job.export.voxels is not None:
        with timer.stage("voxels", f"saving {job.export.voxels}"):
            outputs["voxels"] = str(grid.save(job.export.voxels))
    summary["outputs"] = outputs
    summary["timing_s"] = timer.timings()
    return summary, report


def _run_morph(job: Job, timer: StageTimer, outputs: dict[str, Any], quiet: bool) -> dict[str, Any]:
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
