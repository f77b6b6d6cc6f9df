"""``fab morph JOB.toml``: run a morphogenesis search end to end and write its files.

Search (fab.morph.search) -> per generation: checkpoint, convergence plot, PNG of the best design ->
re-score the top designs finely -> problem report (for the gear: reference involute pair, involute
fit, transmission error curves) -> fabrication files -> summary (also written as summary.json).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from exporters.atomic import atomic_open
from fab.morph import plots
from fab.morph.config import MorphJob, read_morph_job
from fab.morph.executors import make_executor
from fab.morph.search import Record, SearchResult, run_search
from fab.progress import stderr_console

# The trade-offs reported as a Pareto front (all minimised): smooth action vs root stress for a gear, stiffness
# vs strength (compliance vs peak bond stretch) for a bracket.
PARETO_KEYS = {"gear": ("te_rad", "root_stress_mpa"), "bracket": ("compliance_nmm", "peak_stretch")}


def run_morph(
    job: str | Path | MorphJob,
    *,
    resume: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    budget_minutes: float | None = None,
    seed: int | None = None,
    quiet: bool = False,
    executor=None,
    live=None,
) -> dict[str, Any]:
    """Run the job's search (or resume it) and return the summary dict (see docs/morphogenesis.md).

    ``live`` (a :class:`fab.live.LiveOptions`) opens the live page that steers the search (fab.live.search).
    """
    from dataclasses import replace

    from fab.errors import FabError

    mj = job if isinstance(job, MorphJob) else read_morph_job(job)
    settings = mj.settings
    if budget_minutes is not None:
        if not (math.isfinite(budget_minutes) and budget_minutes > 0):
            raise FabError(f"--budget-minutes must be > 0, got {budget_minutes}")
        settings = replace(settings, budget_seconds=60.0 * budget_minutes)
    if seed is not None:
        if seed < 0:
            raise FabError(f"--seed must be >= 0, got {seed}")
        settings = replace(settings, seed=int(seed))
    out = mj.output
    out.mkdir(parents=True, exist_ok=True)
    (out / "generations").mkdir(exist_ok=True)
    own_executor = executor is None
    if executor is None:
        local = scheduler is not None and scheduler.strip().lower() == "local"
        executor = make_executor(
            None if local else scheduler, workers if workers is not None else mj.workers, dask_local=local
        )
        if live is not None and not getattr(executor, "resizable", False):
            from fab.morph.executors import PoolExecutor

            executor.close()
            executor = PoolExecutor(1)  # a pool the page can grow
    server = steering = None
    if live is not None:
        from fab.live.search import SearchLive
        from fab.live.server import LiveServer

        try:
            server = LiveServer(f"fab morph {mj.path.name}", host=live.host, port=live.port, token=live.token, quiet=quiet)
        except BaseException:
            if own_executor:
                executor.close()
            raise
        steering = SearchLive(server, mj, executor, PARETO_KEYS[mj.problem_name])
    problem = mj.problem
    progress = None if quiet else _progress(settings.generations)

    def on_generation(gen: int, best: Record, history: list[dict[str, float]]) -> None:
        plots.convergence(history, out / "convergence.png", f"{mj.problem_name}: convergence")
        problem.snapshot(best.genome, out / "generations" / f"gen_{gen:03d}_best.png", f"generation {gen}")
        if progress is not None:
            bar, task = progress
            m = best.evaluation.metrics
            extra = f" TE {m['transmission_error_rad']:.2e} rad" if "transmission_error_rad" in m else ""
            bar.update(task, completed=gen, description=f"best {best.evaluation.ranked_score:.4g}{extra}")

    try:
        if progress is not None:
            progress[0].start()
        result = run_search(
            problem,
            problem.dimension,
            settings,
            executor,
            out / "checkpoint.pkl",
            resume=resume,
            on_generation=on_generation,
            pareto_keys=PARETO_KEYS[mj.problem_name],
            steering=steering,
        )
    finally:
        if progress is not None:
            progress[0].stop()
        if server is not None:
            server.close()
        if own_executor:
            executor.close()
    summary = _summary(mj, result, settings)
    if mj.problem_name == "gear":
        summary.update(_gear_outputs(mj, result, quiet))
    elif mj.problem_name == "bracket":
        summary.update(_bracket_outputs(mj, result, quiet))
    summary["outputs"]["summary"] = str(out / "summary.json")
    summary = _plain(summary)
    with atomic_open(out / "summary.json", "w") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN and infinities to None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _progress(total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]morph[/bold] generation"),
        MofNCompleteColumn(),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr_console,
        transient=True,
    )
    return bar, bar.add_task("starting", total=total)


def _summary(mj: MorphJob, result: SearchResult, settings) -> dict[str, Any]:
    best = result.best
    out = mj.output
    return {
        "job": str(mj.path),
        "problem": mj.problem_name,
        "method": settings.method,
        "seed": settings.seed,
        "generations": result.generations,
        "evaluations": result.evaluations,
        "seconds": round(result.seconds, 3),
        "stopped_by": result.stopped_by,
        "interrupted": result.interrupted,
        "best": {
            "generation": best.generation,
            "score": best.evaluation.score,
            "guards": list(best.evaluation.guards),
            "genome": [float(x) for x in best.genome],
            "objectives": best.evaluation.objectives,
            **{k: v for k, v in best.evaluation.metrics.items()},
        },
        "guards": result.guards,
        "rescored": result.rescored,
        "vetoes": result.vetoes,
        "promoted": result.promoted,
        "pareto": result.pareto,
        "history": result.history,
        "outputs": {
            "checkpoint": str(out / "checkpoint.pkl"),
            "convergence_png": str(out / "convergence.png"),
            "generations_png": str(out / "generations"),
        },
    }


def _gear_outputs(mj: MorphJob, result: SearchResult, quiet: bool) -> dict[str, Any]:
    from fab.morph.gear_cutter import CutterProgram
    from fab.morph.gear_report import (
        fit_involute,
        gear_outline,
        reference_backlash,
        reference_profile,
        write_fabrication,
    )

    t0 = time.perf_counter()
    problem, out, genome = mj.problem, mj.output, result.best.genome
    best = problem.profile(genome, fine=True)
    ref = reference_profile(problem)
    best_meshes = problem.meshes(best, fine=True)
    ref_meshes = problem.meshes(ref, fine=True)
    # The flank that can work: from the lowest contact (any centre distance) up to just under the tip.
    lows = [m.contact_radii[0] for m in best_meshes if np.isfinite(m.contact_radii[0])]
    r_lo = min(lows) if lows else best.root_radius + 0.25 * problem.module
    r_hi = best.tip_radius - 0.02 * problem.module
    fit = fit_involute(best, r_lo, r_hi)
    plots.profile_vs_involute(
        fit.radii,
        fit.flank,
        fit.fitted,
        fit.deviation_mm * 1e3,
        out / "profile_vs_involute.png",
        f"flank vs best-fit involute: max {fit.max_deviation_mm * 1e3:.2f} um, "
        f"pressure angle {fit.pressure_angle_deg:.2f} deg",
    )
    curves = {}
    for label, meshes in (("grown", best_meshes), ("involute 20", ref_meshes)):
        for m in meshes:
            off = m.centre_distance - 2 * best.pitch_radius
            curves[f"{label}, a {off:+.3f} mm"] = (m.theta1, m.te_loaded)
    plots.transmission_error(
        curves, out / "transmission_error.png", "loaded transmission error over one pitch"
    )
    files = {
        "profile_vs_involute_png": str(out / "profile_vs_involute.png"),
        "transmission_error_png": str(out / "transmission_error.png"),
    }
    polygon = gear_outline(problem, genome)
    file_errors: dict[str, str] = {}
    files.update(
        write_fabrication(
            polygon, out, "gear", problem.face_width, mj.bore, mj.printer, mj.tool, mj.files, file_errors
        )
    )
    for kind, message in file_errors.items():
        if not quiet:
            stderr_console.print(f"[yellow]warning:[/yellow] {kind} not written: {message}", highlight=False)
    if not quiet:
        stderr_console.print(
            f"gear report and files written in {time.perf_counter() - t0:.1f} s", highlight=False
        )
    te = max(m.te_loaded_pp for m in best_meshes)
    te_ref = max(m.te_loaded_pp for m in ref_meshes)
    # Both teeth through the particle engine at the re-scoring resolution: the strength side of the trade.
    from fab.morph.gear_strength import tooth_strength

    spacing = problem.fine_spacing * problem.module
    stress = [
        tooth_strength(
            p,
            problem.material,
            problem.torque,
            problem.face_width,
            spacing,
            2 * problem.relax_steps,
            problem.relax_tolerance / 5,
        ).root_stress
        / 1e6
        for p in (best, ref)
    ]
    return {
        "module_mm": problem.module,
        "teeth": problem.teeth,
        "transmission_error_rad": te,
        "reference_transmission_error_rad": te_ref,
        "unloaded_transmission_error_rad": max(m.te_unloaded_pp for m in best_meshes),
        "reference_unloaded_transmission_error_rad": max(m.te_unloaded_pp for m in ref_meshes),
        "involute_deviation_pct_module": 100 * fit.max_deviation_mm / problem.module,
        "pressure_angle_deg": fit.pressure_angle_deg,
        "root_stress_mpa": stress[0],
        "reference_root_stress_mpa": stress[1],
        "contact_ratio": min(m.contact_ratio for m in best_meshes),
        "reference_contact_ratio": min(m.contact_ratio for m in ref_meshes),
        "backlash_mm": [min(m.backlash_mm for m in best_meshes), max(m.backlash_mm for m in best_meshes)],
        "reference_backlash_mm": reference_backlash(problem),
        "working_flank_mm": [r_lo, r_hi],
        "cutter": CutterProgram.from_genome(genome).as_dict(),
        "file_errors": file_errors,
        "outputs": {**_summary_outputs(mj), **files},
    }


def _bracket_outputs(mj: MorphJob, result: SearchResult, quiet: bool) -> dict[str, Any]:
    """The best bracket at the fine pitch: PNG, voxel grid (.npz), STL (extruded by the thickness) and a
    ``fab.stress`` failure test of it."""
    from fab.errors import FabError
    from fab.export import export
    from fab.morph.bracket import bracket_png, design_grid, failure_test

    t0 = time.perf_counter()
    problem, out = mj.problem, mj.output
    lay = problem.layout(fine=True)
    dev = problem.develop(result.best.genome, fine=True)
    ev = problem.evaluate_design(dev, fine=True)
    bracket_png(
        problem,
        dev.occupancy,
        lay,
        out / "bracket.png",
        f"grown bracket: compliance {dev.compliance:.4g} N mm",
    )
    grid = design_grid(problem, dev.occupancy, lay.pitch)
    grid.save(out / "bracket_voxels.npz")
    export(grid, stl=out / "bracket.stl", quiet=True)
    failure_load, failure_note = None, ""
    try:
        report = failure_test(problem, dev.occupancy, lay.pitch)
        failure_load = report.failure_load_n
        failure_note = next((n for n in report.notes if n.startswith(("failure between", "no failure"))), "")
    except FabError as exc:
        failure_note = f"failure test not run: {exc}"
    if not quiet:
        shown = "none found" if failure_load is None else f"{failure_load:.4g} N"
        stderr_console.print(
            f"bracket files and failure test ({shown}) in {time.perf_counter() - t0:.1f} s", highlight=False
        )
    return {
        "compliance_nmm": dev.compliance,
        "full_domain_compliance_nmm": dev.full_compliance,
        "volume_fraction": ev.metrics["volume_fraction"],
        "peak_stretch": dev.peak_stretch,
        "first_break_load_n": ev.metrics["first_break_load_n"],
        "fine_guards": list(ev.guards),
        "failure_load_n": failure_load,
        "service_load_n": problem.force,
        "failure_note": failure_note,
        "pitch_mm": lay.pitch,
        "outputs": {
            **_summary_outputs(mj),
            "bracket_png": str(out / "bracket.png"),
            "voxels_npz": str(out / "bracket_voxels.npz"),
            "stl": str(out / "bracket.stl"),
        },
    }


def _summary_outputs(mj: MorphJob) -> dict[str, str]:
    out = mj.output
    return {
        "checkpoint": str(out / "checkpoint.pkl"),
        "convergence_png": str(out / "convergence.png"),
        "generations_png": str(out / "generations"),
    }
