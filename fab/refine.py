"""Refine the user's own part (``[morph] problem = "part"``): the pipeline around fab.morph.part.

import -> voxelize -> failure test of the original under each load case -> refine (one development with the
tuned default genes, or a CMA-ES search over the genes) -> failure test of the refined part under each load case
-> the refined part's files ([export]: STL, G-code, assembly plan, voxels, VTK, a PNG of both parts side by side
coloured by stress under the same load). ``fab run`` runs all of it; ``fab morph`` the refinement alone (its files
in the [morph] output folder). Lengths in mm, forces in N, stresses in Pa.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from fab.errors import FabError
from fab.job import Job, TestSpec
from fab.progress import StageTimer, stderr_console
from fab.voxels import VoxelGrid


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        stderr_console.print(text, highlight=False)


def case_job(job: Job, case: tuple[int, ...], kind: str = "failure") -> Job:
    """The job's part under one load case, as a ``kind`` test (the job's test settings)."""
    test = TestSpec(kind=kind, steps=job.test.steps, tolerance=job.test.tolerance, max_factor=job.test.max_factor)
    return replace(job, load=tuple(job.load[i] for i in case), test=test)


PARALLEL_CELLS = 2000  # parts smaller than this test their load cases in this process: a spawned process takes
# 5-10 s to start (imports, numba's cache), more than such a part's failure test; the sample's 7,008 cells take minutes


def failure_tests(
    grid: VoxelGrid, job: Job, cases, label: str, quiet: bool, server: Any = None, workers: int | None = 1
) -> list[dict[str, Any]]:
    """``fab.stress`` failure test of ``grid`` under each load case: failure load (N), safety factor, notes.
    ``server`` (a :class:`fab.live.server.LiveServer`): each test on its page in turn (fab.live.simulation:
    watched, paused, stopped: a stopped test reports no safety factor). ``workers``: load cases tested at once,
    each in a process of its own (None: one a core; 1: in this process); see :func:`start_failure_tests`."""
    return start_failure_tests(grid, job, cases, label, quiet, server, workers).results()


def start_failure_tests(
    grid: VoxelGrid, job: Job, cases, label: str, quiet: bool, server: Any = None, workers: int | None = None
) -> _FailureTests:
    """Start the failure tests of ``grid`` under each load case; ``.results()`` waits for them (in load-case
    order). The load cases are independent tests (each scales its own loads until the part fails), so with more
    than one case, ``workers`` > 1 (None: one a core) and a part of PARALLEL_CELLS cells or more, each runs in a
    process of its own with one numba thread (the cores split between the cases, not between the threads of one
    case's kernels: much of a failure test's load path is serial numpy), while this process goes on (the
    refinement). A live ``server`` watches the tests one by one in this process, as before."""
    import os

    n = len(cases)
    workers = min(n, os.cpu_count() or 1) if workers is None else min(n, int(workers))
    if server is not None or workers <= 1 or int(grid.occupancy.sum()) < PARALLEL_CELLS:
        return _FailureTests([_one_failure_test(grid, job, case, c, n, label, quiet, server)
                              for c, case in enumerate(cases, start=1)])  # fmt: skip
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from fab.morph.executors import _single_threaded

    # Spawned: this process may have run numba's OpenMP threads already, which a forked child cannot use.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_single_threaded)
    # Each worker's test says where it is on stderr in a plain line now and then (unless quiet): a bar per
    # process would overwrite the others'.
    futures = [pool.submit(_one_failure_test, grid, job, case, c, n, label, True, None,
                           None if quiet else f"{label}, load case {c}")
               for c, case in enumerate(cases, start=1)]  # fmt: skip
    _say(quiet, f"failure tests of the {label} part: {n} load cases in {workers} processes")
    return _FailureTests(futures, pool, label, quiet)


class _FailureTests:
    """Failure tests under way (futures of a process pool) or done (a list)."""

    def __init__(self, items: list, pool: Any = None, label: str = "", quiet: bool = True) -> None:
        self.items, self.pool, self.label, self.quiet = items, pool, label, quiet

    def results(self) -> list[dict[str, Any]]:
        if self.pool is None:
            return self.items
        from concurrent.futures import as_completed

        try:
            for future in as_completed(self.items):
                t = future.result()
                sf = t["safety_factor"]
                _say(self.quiet, f"{self.label}, load case {t['case']}: safety factor "
                     f"{'none found' if sf is None else f'{sf:.3g}'} ({t['seconds']:.1f} s)")  # fmt: skip
            out = [f.result() for f in self.items]
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.items, self.pool = out, None
        return out


def _one_failure_test(
    grid, job, case, c: int, n: int, label: str, quiet: bool, server, lines: str | None = None
) -> dict[str, Any]:
    from fab.stress import run_test

    t0 = time.perf_counter()
    c0 = time.process_time()
    view = None
    if server is not None:
        from fab.live.simulation import SimulationLive

        server.next_page()
        loads = ", ".join(str(i + 1) for i in case)
        view = SimulationLive(server, hold=False, quiet=quiet, heading=(
            f"**part refinement**: failure test of the **{label}** part, load case {c} of {n} "
            f"([[load]] {loads})"))  # fmt: skip
    report = run_test(grid, case_job(job, case), quiet=quiet and lines is None, live=view, lines=lines)
    out = {
        "case": c,
        "failure_load_n": report.failure_load_n,
        "safety_factor": report.safety_factor,
        "converged": report.converged,
        "notes": [note for note in report.notes if note.startswith(("failure between", "no failure"))],
        "steps": report.steps,  # law evaluations where Newton traces the load path (fab.failure)
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }
    if server is not None or not quiet:
        sf = report.safety_factor
        _say(quiet, f"{label}, load case {c}: safety factor {'none found' if sf is None else f'{sf:.3g}'} "
             f"({out['seconds']:.1f} s)")
    return out


def _min_sf(tests: list[dict[str, Any]]) -> float | None:
    vals = [t["safety_factor"] for t in tests]
    if any(v is None for v in vals):
        return None
    return float(min(vals))


def refine(
    job: Job,
    *,
    part=None,
    grid=None,
    timer: StageTimer | None = None,
    quiet: bool = False,
    failure: bool = True,
    exports: bool = True,
    mode: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    seed: int | None = None,
    budget_minutes: float | None = None,
    live: Any = None,
) -> dict[str, Any]:
    """Refine the job's part (see the module docstring); returns the summary (also written as summary.json in
    the [morph] output folder). ``failure``: run the failure tests (``fab run``); ``exports``: write [export].
    ``live`` (a :class:`fab.live.LiveOptions`): one live page for the run, on which its stages follow each other:
    the failure tests of the original and of the refined part (fab.live.simulation) and the search (``mode =
    "search"``; fab.live.search)."""
    from fab.morph.part_job import read_refine_job

    timer = timer or StageTimer(quiet=quiet)
    t_start = time.perf_counter()
    if mode is not None:  # read as the job's own mode: a search builds its finer re-scoring layout
        if mode not in ("quick", "search"):
            raise FabError(f"mode must be quick or search, got {mode!r}")
        job = replace(job, morph={**(job.morph or {}), "mode": mode})
    with timer.stage("design_space", "voxelizing the design space"):
        rj = read_refine_job(job, part=part, grid=grid, quiet=quiet)
    if seed is not None:
        rj = replace(rj, settings=replace(rj.settings, seed=int(seed)))
    if budget_minutes is not None:
        if not (math.isfinite(budget_minutes) and budget_minutes > 0):
            raise FabError(f"--budget-minutes must be > 0, got {budget_minutes}")
        rj = replace(rj, settings=replace(rj.settings, budget_seconds=60.0 * budget_minutes))
    problem = rj.problem
    lay = problem.layout()
    cases = lay.cases
    original = VoxelGrid(lay.original, lay.pitch, lay.origin)
    _say(quiet, f"design space: {rj.cell_counts['design_space']:,} cells ({rj.design_space}), original part "
         f"{rj.cell_counts['original']:,}, keep-in {rj.cell_counts['keep_in']:,}; {len(cases)} load case(s), "
         f"goal {problem.goal}")
    summary: dict[str, Any] = {"problem": "part", "mode": rj.mode, "goal": problem.goal}
    need_failure = failure or (problem.goal == "mass" and rj.safety_factor is not None)
    server = None
    if live is not None and (need_failure or rj.mode != "quick"):
        from fab.live.server import LiveServer

        server = LiveServer("fab: refine the part", host=live.host, port=live.port, token=live.token, quiet=quiet)
    try:
        return _refine(job, rj, problem, lay, cases, original, summary, need_failure, timer, t_start, quiet=quiet,
                       failure=failure, exports=exports, workers=workers, scheduler=scheduler, live=live,
                       server=server)  # fmt: skip
    finally:
        if server is not None:
            server.close()


def _refine(job, rj, problem, lay, cases, original, summary, need_failure, timer, t_start, *, quiet, failure,
            exports, workers, scheduler, live, server) -> dict[str, Any]:  # fmt: skip
    """refine() from the original's failure tests on (``server``: the run's live page, or None)."""
    from fab.morph.part import default_genome

    # The original: failure tests (the safety factor to keep) and the engine's reference solves.
    sf_original = None
    tests_original: list[dict[str, Any]] = []
    pending = None
    if need_failure:
        # A quick refinement that keeps the original's own safety factor needs it only at the end: its failure
        # tests run in processes of their own meanwhile (start_failure_tests). A required safety factor is
        # checked against the original's first; a search keeps the cores for its designs.
        overlap = rj.mode == "quick" and rj.safety_factor is None and server is None
        pending = start_failure_tests(original, job, cases, "original", quiet, server)
        if not overlap or pending.pool is None:
            with timer.stage("failure_original", "failure test of the original"):
                tests_original = pending.results()
            sf_original = _min_sf(tests_original)
            pending = None
    with timer.stage("reference", "solving the original under each load case"):
        ref = problem.reference()
    if problem.goal == "mass":
        required = rj.safety_factor if rj.safety_factor is not None else sf_original
        if rj.safety_factor is not None and sf_original is not None:
            # The whole design space's estimated safety factor: the original's scaled by its peak stretch.
            best = sf_original * min(
                o / d for o, d in zip(ref.original_peak, ref.domain_peak, strict=True)
            )
            if required > best * 1.0001:
                what = "the original part" if rj.design_space == "part" else "the whole design space"
                raise FabError(
                    f"safety_factor {required:g} cannot be met: {what} reaches {best:.3g} (the original fails at "
                    f"{sf_original:.3g} x its loads); lower safety_factor or give a larger design_space"
                )
            problem = replace(problem, strength_ratio=required / sf_original)
        summary["safety_factor_required"] = required
    # Refine.
    t0 = time.perf_counter()
    search_info: dict[str, Any] = {}
    if rj.mode == "quick":
        if live is not None:
            _say(quiet, 'live view: a quick refinement runs no search to watch (mode = "search" runs one)'
                 + ("; its failure tests are on the page" if server is not None else ""))  # fmt: skip
        genome = np.array(default_genome(problem.goal), dtype=float)
        progress = _StepProgress(quiet, problem.steps)
        with progress:
            dev = problem.develop(genome, progress=progress.update)
        guards = {}
    else:
        genome, search_info, guards, design = _search(problem, rj, workers, scheduler, quiet, live, server)
        # The best design as its worker developed it (the main process developed it again, one core idle).
        dev = design.unpacked() if design is not None else problem.develop(genome)
    timer.seconds["refine"] = time.perf_counter() - t0
    evaluation = problem.evaluate_design(dev)
    guards = {**guards, "final": list(evaluation.guards)}
    refined = VoxelGrid(dev.occupancy, lay.pitch, lay.origin)
    _say(quiet, f"refined: {int(dev.occupancy.sum()):,} cells, {evaluation.metrics['mass_ratio']:.3f} of the "
         f"original's mass ({time.perf_counter() - t0:.1f} s)")
    started = None
    same = np.array_equal(dev.occupancy, original.occupancy)  # nothing to take away (a part already lean)
    if failure and pending is not None and not same:
        # The refined part's tests need nothing from the original's: they start now, beside them, on the core
        # the original's shorter load case leaves (which sat idle while the longer one ran on: minutes on the
        # sample)
        started = start_failure_tests(refined, job, cases, "refined", quiet, server)
    if pending is not None:
        with timer.stage("failure_original", "failure tests of the original (started before the refinement)"):
            tests_original = pending.results()
        sf_original = _min_sf(tests_original)
        if problem.goal == "mass":
            summary["safety_factor_required"] = sf_original
    tests_refined: list[dict[str, Any]] = []
    if failure and same:  # the same cells: the same (deterministic) tests, run once
        _say(quiet, "the refined part is the original: its failure tests are the original's")
        tests_refined = [dict(t) for t in tests_original]
    elif failure:
        with timer.stage("failure_refined", "failure test of the refined part"):
            if started is None:
                started = start_failure_tests(refined, job, cases, "refined", quiet, server)
            tests_refined = started.results()
    with timer.stage("stress", "stress of both parts under each load case"):
        orig_sol = problem.solve(original.occupancy | lay.keep_in, lay, problem.model, von_mises=True)
        ref_sol = problem.solve(dev.occupancy, lay, problem.model, von_mises=True)
    density = job.material.density * 1e-6  # kg/m^3 -> g/mm^3
    vox = lay.pitch**3
    mass_o = float((original.occupancy | lay.keep_in).sum()) * vox * density
    mass_r = float(dev.occupancy.sum()) * vox * density
    boundary = lay.fixed | np.logical_or.reduce(lay.loads)
    summary.update(
        {
            "mass_original_g": mass_o,
            "mass_refined_g": mass_r,
            "mass_saving": 1.0 - mass_r / mass_o,
            "volume_fraction": float(dev.occupancy.sum()) / float(lay.domain.sum()),
            "safety_factor_original": sf_original,
            "safety_factor_refined": _min_sf(tests_refined) if failure else None,
            "failure_load_original_n": [t["failure_load_n"] for t in tests_original],
            "failure_load_refined_n": [t["failure_load_n"] for t in tests_refined],
            "compliance_original_nmm": [s.compliance for s in orig_sol],
            "compliance_refined_nmm": [s.compliance for s in ref_sol],
            "max_von_mises_original_pa": [_vm_max(s.von_mises, original.occupancy, boundary) for s in orig_sol],
            "max_von_mises_refined_pa": [_vm_max(s.von_mises, dev.occupancy, boundary) for s in ref_sol],
            "estimated_safety_ratio": evaluation.metrics["estimated_safety_ratio"],
            "load_cases": [[i + 1 for i in c] for c in cases],
            "pitch_mm": lay.pitch,
            "cells": {**rj.cell_counts, "refined": int(dev.occupancy.sum())},
            "development": {
                "steps": dev.step,
                "shape_steps": dev.shape_steps,
                "mass_history": list(dev.history),
                "genome": [float(v) for v in genome],
                "notes": list(dev.notes),
            },
            "guards": guards,
            "failure_tests_original": tests_original,
            "failure_tests_refined": tests_refined,
        }
    )
    if failure and summary["safety_factor_refined"] is not None and problem.goal == "mass":
        req = summary["safety_factor_required"]
        summary["safety_factor_met"] = bool(req is None or summary["safety_factor_refined"] >= req * 0.98)
    if search_info:
        summary["search"] = search_info
    outputs = _write(job, rj, refined, original, orig_sol, ref_sol, lay, summary, exports, timer, quiet)
    summary["outputs"] = outputs
    summary["seconds"] = time.perf_counter() - t_start
    _write_summary(rj.output / "summary.json", summary)
    summary["outputs"]["summary"] = str(rj.output / "summary.json")
    return summary


def _vm_max(vm: np.ndarray, occ: np.ndarray, boundary: np.ndarray) -> float:
    inner = occ & ~boundary
    return float(vm[inner].max() if inner.any() else vm[occ].max())


class _StepProgress:
    """A rich progress bar on stderr over the remodelling steps (nothing when quiet)."""

    def __init__(self, quiet: bool, steps: int) -> None:
        self.quiet, self.steps, self.bar = quiet, steps, None

    def __enter__(self):
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("refining"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                console=stderr_console, transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("", total=self.steps)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, step: int, steps: int, text: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, description=f"step {step}: {text}")
            if not stderr_console.is_terminal:  # a log file gets one line a step instead of a redrawn bar
                stderr_console.print(f"refining, step {step}/{steps}: {text}", highlight=False)


def _search(problem, rj, workers, scheduler, quiet, live=None, server=None):
    """The refinement's search: (genome, info, guards, the best design as its worker developed it or None).
    ``live``: its page, on ``server`` (the run's, left open for the next stage) or on a server of its own."""
    from fab.morph.executors import PoolExecutor, make_executor
    from fab.morph.search import run_search

    local = scheduler is not None and scheduler.strip().lower() == "local"
    executor = make_executor(None if local else scheduler, workers if workers is not None else rj.workers,
                             dask_local=local)
    rj.output.mkdir(parents=True, exist_ok=True)
    own = steering = None
    pareto = ("mass_ratio", "peak_over_allowed")
    if live is not None:  # the search's live page, as fab morph's (fab.live.search)
        import types

        from fab.live.search import SearchLive
        from fab.live.server import LiveServer

        if not executor.resizable:
            executor.close()
            executor = PoolExecutor(1)  # a pool the page can grow
        if server is None:
            try:
                server = own = LiveServer("fab morph (refine the part)", host=live.host, port=live.port,
                                          token=live.token, quiet=quiet)  # fmt: skip
            except BaseException:
                executor.close()
                raise
        else:
            server.next_page()
        job = types.SimpleNamespace(problem_name="part", problem=problem, output=rj.output, settings=rj.settings)
        steering = SearchLive(server, job, executor, pareto)

    def on_generation(gen, best, history) -> None:
        _say(quiet, f"generation {gen}/{rj.settings.generations}: best {best.evaluation.ranked_score:.4g} "
             f"({history[-1]['seconds']:.1f} s)")

    try:
        # The reference solves once, here, shipped with the problem: each worker solved them again before.
        problem = problem.with_references()
        result = run_search(problem, problem.dimension, rj.settings, executor, rj.output / "checkpoint.pkl",
                            on_generation=on_generation, pareto_keys=pareto, steering=steering)
    finally:
        if steering is not None:
            steering.close()
        if own is not None:
            own.close()
        executor.close()
    info = {
        "generations": result.generations,
        "evaluations": result.evaluations,
        "seconds": result.seconds,
        "generation_seconds": [h["seconds"] for h in result.history],
        "executor": executor.description,
        "best_score": result.best.evaluation.ranked_score,
        "rescored": result.rescored,
        "stopped_by": result.stopped_by,
    }
    return result.best.genome, info, result.guards, getattr(result.best.evaluation, "design", None)


def _write(job, rj, refined, original, orig_sol, ref_sol, lay, summary, exports, timer, quiet) -> dict[str, str]:
    from fab.export import export

    out = rj.output
    out.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, str] = {}
    with timer.stage("files", "writing the refined part"):
        outputs["voxels_npz"] = str(refined.save(out / "refined.voxels.npz"))
        export(refined, stl=out / "refined.stl", quiet=True)
        outputs["stl"] = str(out / "refined.stl")
        outputs["step"] = str(write_step(out / "refined.stl", out / "refined.step"))
        outputs["png"] = str(compare_png(original.occupancy | lay.keep_in, refined.occupancy, orig_sol[0].von_mises,
                                         ref_sol[0].von_mises, lay, out / "refine.png", summary))
    if not exports:
        return outputs
    ex = job.export
    fabrication = {k: v for k, v in {"stl": ex.stl, "gcode": ex.gcode, "assembly": ex.assembly, "vox": ex.vox,
                                      "binvox": ex.binvox}.items() if v is not None}
    if fabrication:
        result = export(refined, timer=timer, quiet=quiet, **fabrication)
        outputs.update({k: v["path"] for k, v in result["outputs"].items()})
        summary["exports"] = result["outputs"]
    if ex.voxels is not None:
        outputs["voxels"] = str(refined.save(ex.voxels))
    if ex.png is not None:
        outputs["png"] = str(compare_png(original.occupancy | lay.keep_in, refined.occupancy, orig_sol[0].von_mises,
                                         ref_sol[0].von_mises, lay, Path(ex.png), summary))
    if ex.vtk is not None:
        from fab.stress import run_test

        with timer.stage("vtk", f"writing {ex.vtk}"):
            report = run_test(refined, case_job(job, lay.cases[0], "static"), quiet=True)
            outputs["vtk"] = str(report.save_vtk(ex.vtk))
    return outputs


def compare_png(occ_a, occ_b, vm_a, vm_b, lay, path: Path, summary: dict[str, Any]) -> Path:
    """The original and the refined part side by side (surface cells, 3D view), coloured by von Mises stress
    (MPa, one colour scale) under load case 1."""
    from scipy import ndimage

    from fab.morph.plots import _save, plt

    fig = plt.figure(figsize=(11, 4.8))
    shown = []
    for occ, vm in ((occ_a, vm_a), (occ_b, vm_b)):
        surface = occ & ndimage.binary_dilation(~occ, structure=ndimage.generate_binary_structure(3, 1))
        ijk = np.argwhere(surface)
        shown.append((np.asarray(lay.origin) + ijk * lay.pitch, vm[surface] / 1e6))
    vmax = max(float(np.percentile(v, 99)) for _, v in shown) or 1.0
    titles = (
        f"original: {summary['mass_original_g']:.1f} g",
        f"refined: {summary['mass_refined_g']:.1f} g ({100 * summary['mass_saving']:.0f} % less)",
    )
    sc = None
    for n, ((pts, v), title) in enumerate(zip(shown, titles, strict=True), start=1):
        ax = fig.add_subplot(1, 2, n, projection="3d")
        sc = ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=v, cmap="turbo", vmin=0, vmax=vmax, s=6, marker="s",
                        depthshade=False)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        ax.set_zlabel("z (mm)")
        ax.set_box_aspect(np.ptp(np.vstack([shown[0][0], shown[1][0]]), axis=0) + lay.pitch)
        ax.view_init(elev=25, azim=-60)
    fig.colorbar(sc, ax=fig.axes, shrink=0.7, label="von Mises (MPa), load case 1")
    _save(fig, path)
    return path


def _write_summary(path: Path, summary: dict[str, Any]) -> None:
    from exporters.atomic import atomic_open

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as fh:
        json.dump(summary, fh, indent=2, default=float)


def refine_lines(summary: dict[str, Any]) -> list[str]:
    """The refinement's summary as text lines (fab run / fab morph without --json)."""

    def sf(v) -> str:
        return "-" if v is None else f"{v:.3g}"

    measured = summary["failure_tests_original"] or summary["failure_tests_refined"]
    if measured:
        safety = (
            f"safety factor: original {sf(summary['safety_factor_original'])}, refined "
            f"{sf(summary['safety_factor_refined'])}"
            + (f" (required {sf(summary.get('safety_factor_required'))})"
               if "safety_factor_required" in summary else "")
        )
    else:  # fab morph: no failure test ran; say what stands in for it rather than print dashes
        required = summary.get("safety_factor_required")
        versus = "the original's" if required is None else f"the required {required:.3g}"
        safety = (f"safety factor: not measured (fab morph runs no failure test; fab run does); estimated "
                  f"{summary['estimated_safety_ratio']:.2f} x {versus} from the peak bond stretch")
    lines = [
        f"refined part: {summary['mass_refined_g']:.2f} g, the original {summary['mass_original_g']:.2f} g "
        f"({100 * summary['mass_saving']:.1f} % less; volume fraction {summary['volume_fraction']:.3f} of the "
        "design space)",
        safety,
    ]
    for c, case in enumerate(summary["load_cases"]):
        fo = summary["failure_load_original_n"]
        fr = summary["failure_load_refined_n"]
        fail = ""
        if c < len(fo) and c < len(fr):
            fail = f", failure load {sf(fo[c])} -> {sf(fr[c])} N"
        lines.append(
            f"load case {c + 1} (loads {case}): compliance {summary['compliance_original_nmm'][c]:.4g} -> "
            f"{summary['compliance_refined_nmm'][c]:.4g} N mm, max von Mises "
            f"{summary['max_von_mises_original_pa'][c] / 1e6:.3g} -> {summary['max_von_mises_refined_pa'][c] / 1e6:.3g}"
            f" MPa{fail}"
        )
    caught = summary["guards"].get("final") or []
    lines.append("guards: " + (", ".join(caught) if caught else "none caught"))
    lines.append("written: " + ", ".join(str(v) for v in summary["outputs"].values()))
    return lines


def refined_solid(stl_path: str | Path):
    """The refined part's smooth, watertight STL as a CadQuery solid (faceted: one planar face a triangle, sewn),
    for further CAD work and STEP export."""
    import cadquery as cq
    from OCP.BRepBuilderAPI import BRepBuilderAPI_MakeSolid, BRepBuilderAPI_Sewing
    from OCP.StlAPI import StlAPI_Reader
    from OCP.TopAbs import TopAbs_SHELL
    from OCP.TopExp import TopExp_Explorer
    from OCP.TopoDS import TopoDS, TopoDS_Shape

    faces = TopoDS_Shape()
    if not StlAPI_Reader().Read(faces, str(stl_path)):
        raise FabError(f"cannot read the refined mesh {stl_path}")
    sewing = BRepBuilderAPI_Sewing(1e-6)
    sewing.Add(faces)
    sewing.Perform()
    sewn = sewing.SewedShape()
    shells = TopExp_Explorer(sewn, TopAbs_SHELL)
    maker = BRepBuilderAPI_MakeSolid()
    while shells.More():
        maker.Add(TopoDS.Shell_s(shells.Current()))
        shells.Next()
    solid = cq.Solid(maker.Solid())
    solid = solid.fix() if not solid.isValid() else solid
    if solid.Volume() < 0:
        solid = cq.Solid(solid.wrapped.Reversed())
    return solid


def write_step(stl_path: str | Path, step_path: str | Path) -> Path:
    """The refined part as STEP (a faceted solid), written atomically."""
    import cadquery as cq

    from exporters.atomic import atomic_path

    step_path = Path(step_path)
    with atomic_path(step_path) as tmp:
        cq.exporters.export(cq.Workplane("XY").add(refined_solid(stl_path)), str(tmp), exportType="STEP")
    return step_path
