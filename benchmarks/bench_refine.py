"""Issue 13: the refined part against the original and against a 3D SIMP of the same domain, and its speed.

    .venv/bin/python benchmarks/bench_refine.py [--cases quick,simp,search,dask] [--small] [--pitch MM]
        [--design-space part|bbox|MM] [--generations 10] [--population 8] [--json]
    .venv/bin/python benchmarks/bench_refine.py --cases speed --design-space bbox --pitch 1.5   # 20,800 cells
    .venv/bin/python benchmarks/bench_refine.py --cases speed --baseline   # and the solve before 1fedd16, same run
    .venv/bin/python benchmarks/bench_refine.py --cases designs --design-space bbox --pitch 1.5   # a design's cost

On the sample bracket's job (samples/bracket_refine/job.toml: its design space, keep-in/keep-out, rules and two load
cases; ``--small``: the same job at a 2.5 mm pitch, a few hundred cells, for a quick check):

- ``quick``: one development with the default genes (what ``fab run`` does in quick mode: the reference solves and
  the development, timed together; the failure tests are not in that time). Then:
  * mass and safety factor against the original, both from the same ``fab.stress`` failure test under each load
    case (target: >= 30 % lighter at a safety factor no lower than the original's);
  * the 3D SIMP reference (benchmarks/simp3d.py: H8 hexes, penalty 3, density filter 1.5 pitches, OC; the summed
    compliance of the load cases) on the same domain, keep-in, supports and load cases, at the refined part's cell
    count. **Same post-processing** on both designs: the densest cells (keep-in first) at that count, the job's
    manufacturing rules (fab.morph.part.apply_rules: symmetry, minimum thickness, no voids, attached), refilled to
    exactly that count (the densest face neighbours; the least dense surface cells off). Judged by CalculiX
    (benchmarks/voxel_fe.py, one C3D8I per voxel, the held cells fixed, each load shared by its cells), a model
    neither side was optimised against (target: refined compliance <= 1.10 x SIMP's, summed over the load
    cases), and by the engine's failure test (target: the refined part's failure load >= SIMP's in every case).
- ``simp``: the target's comparison, stiffest at a volume fraction both ways: the refinement's quick mode with
  the stiffness goal (``--volume-fraction`` of the design space, default 0.5) against simp3d (``--simp projected``,
  the default, the peer at its best: filter radius twice the job's minimum thickness (``--simp-rmin``; at the
  thickness itself its 1-cell members go in the shared clean-up), continuation of the penalty, a Heaviside
  projection with beta continuation, stopped by its rule, cap 1,000; ``--simp top3d``: top3d's settings, cap
  ``--simp-iterations`` 200; at the sample's pitch the projected design with the 5 mm filter is the strongest
  measured after the shared clean-up, docs/morphogenesis.md),
  both minimising the mean over the load cases of the
  compliance over the whole domain's (SIMP weighs its cases by its H8 model's whole domain); the same
  post-processing to the same cell count (its ranking field: SIMP's densities, the refined design with ties by
  its tissue density); judged by CalculiX C3D8I (the verdict: that objective, the whole domain by CalculiX as
  the yardstick), SIMP's H8 model, the engine and its failure test (``--skip-failure``: not run, not measured).
  Wall and CPU seconds of both sides with the load average.
- ``search``: CMA-ES, ``--generations`` x ``--population`` designs on the process pool with 2 workers (target
  <= 20 min for 10 x 8); ``dask``: the same search on a local dask cluster with 1 and 2 workers (target: 2 workers
  faster in proportion). ``designs``: the search's first generation (the same genomes on every commit: CMA-ES's
  seed) developed one after another in this process on one numba thread, as a worker does: each design's CPU
  seconds, score and cells (a search's cost without its pool; a change that keeps the designs keeps the scores).
- Speed of the quick mode (``quick``, or ``speed``: the quick refinement alone, no failure tests and no SIMP):
  target <= 2 min on a 20,000-voxel domain on 2 cores; a verdict is printed only when the domain has 20,000 cells
  within 25 % (``--design-space bbox --pitch 1.5`` gives 20,800), else "not measured"; judged on the wall time and
  on the process's CPU seconds (the wall time of a shared, loaded machine says little), the load average beside.
  ``--baseline``: the quick refinement first with the development's solve before 1fedd16 (multigrid, plain dynamic
  relaxation after a handover), in the same process: the speed-up in CPU seconds.

Every target line says met / NOT met / not measured. A failed evaluation (CalculiX, a failure test, SIMP's solver)
on either side is an error: exit 1, never a win. Progress on stderr; ``--json`` prints the figures on stdout.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # 2 shared cores: threaded BLAS in the AMG solves only thrashes

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from simp import threshold  # noqa: E402  (dimension-free: the densest cells, keep-in first)
from simp3d import compliance as h8_compliance  # noqa: E402
from simp3d import simp3d  # noqa: E402
from voxel_fe import VoxelFEError  # noqa: E402
from voxel_fe import solve as fe_solve  # noqa: E402

SMALL_PITCH = 2.5  # mm
FACES = ndimage.generate_binary_structure(3, 1)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def same_post(density: np.ndarray, lay, rules, cells: int) -> np.ndarray:
    """The shared post-processing: the ``cells`` densest domain cells (keep-in first), the job's manufacturing
    rules; where they cut a load off the supports, the densest path from it to them as wide as the thinnest member
    (as the refinement's own development does); then refilled to exactly ``cells``: the densest face neighbours
    added, or the least dense removable surface cells taken off (keep-in stays; anything cut off goes)."""
    from fab.morph.part import _attached, _carries, _spine, apply_rules

    occ = apply_rules(threshold(density, lay.domain, lay.keep_in, cells), lay, rules)
    flat = density.ravel()
    for _ in range(200):
        if not _carries(occ, lay):  # at the start, or a cell taken off below cut a load off again
            occ = _attached(occ | _spine(density, lay, rules.min_thickness / lay.pitch), lay)
        diff = cells - int(occ.sum())
        if diff == 0:
            return occ
        if diff > 0:
            ring = np.flatnonzero((ndimage.binary_dilation(occ, FACES) & lay.domain & ~occ).ravel())
            pick = ring[np.argsort(-flat[ring], kind="stable")[:diff]]
            occ.ravel()[pick] = True
        else:
            surface = np.flatnonzero((occ & ~ndimage.binary_erosion(occ, FACES) & ~lay.keep_in).ravel())
            pick = surface[np.argsort(flat[surface], kind="stable")[:-diff]]
            occ.ravel()[pick] = False
            occ = _attached(occ, lay)
    raise RuntimeError(f"post-processing could not reach {cells} cells (at {int(occ.sum())})")


def before_rules(density: np.ndarray, lay, rules, cells: int, youngs_mpa: float, nu: float,
                 domain_h8: list[float]) -> dict:
    """SIMP's own 0/1 design (its ``cells`` densest, keep-in first) before the shared rules: the cells the job's
    rules take off it, and its objective by SIMP's H8 model (mean compliance / the domain's): what the rules cost."""
    from fab.morph.part import apply_rules

    occ = threshold(density, lay.domain, lay.keep_in, cells)
    ruled = apply_rules(occ, lay, rules)
    h8 = [h8_compliance(occ, lay.fixed & occ, case_loads(lay, c), lay.pitch, youngs_mpa, nu) for c in lay.cases]
    return {"cells_removed_by_rules": int((occ & ~ruled).sum()), "h8_compliance_nmm": h8,
            "h8_objective": float(np.mean([a / b for a, b in zip(h8, domain_h8, strict=True)]))}  # fmt: skip


def case_loads(lay, case) -> list[tuple[np.ndarray, tuple[float, float, float]]]:
    return [(lay.loads[n], lay.forces[n]) for n in case]


def calculix(occ: np.ndarray, lay, material) -> dict:
    """CalculiX C3D8I under each load case: summed compliance (N mm), peak von Mises (MPa) over the cases."""
    comp, vm, detached = [], [], 0
    for case in lay.cases:
        vf = np.zeros(occ.shape + (3,))
        for cells, force in case_loads(lay, case):
            on = cells & occ
            vf[on] += np.asarray(force, dtype=float) / int(on.sum())
        fe = fe_solve(occ, lay.pitch, youngs_modulus=material.youngs_modulus, poisson_ratio=material.poisson_ratio,
                      fixed=lay.fixed & occ, voxel_forces=vf, origin=tuple(lay.origin))  # fmt: skip
        comp.append(fe.compliance_nmm)
        vm.append(fe.max_von_mises_pa / 1e6)
        detached = max(detached, fe.detached_voxels)
    return {"ccx_compliance_nmm": comp, "ccx_max_von_mises_mpa": vm, "ccx_detached_voxels": detached}


def judge(label: str, occ: np.ndarray, lay, problem, job, errors: list[str], tests: list | None = None) -> dict:
    """CalculiX, SIMP's H8 model and the engine on one design; ``tests``: its failure tests if already run."""
    from fab.morph.guards import thin_fraction
    from fab.refine import failure_tests
    from fab.voxels import VoxelGrid

    row: dict = {"cells": int(occ.sum()), "volume_fraction": float(occ.sum() / lay.domain.sum()),
                 "thin_fraction": thin_fraction(occ)}  # fmt: skip
    say(f"{label}: CalculiX C3D8I, {row['cells']} elements x {len(lay.cases)} load cases")
    try:
        row.update(calculix(occ, lay, problem.material))
    except VoxelFEError as exc:
        errors.append(f"{label}: CalculiX: {exc}")
    mat = problem.material
    row["h8_compliance_nmm"] = [
        h8_compliance(occ, lay.fixed & occ, case_loads(lay, c), lay.pitch, mat.youngs_modulus / 1e6,
                      mat.poisson_ratio) for c in lay.cases
    ]  # fmt: skip
    say(f"{label}: engine solves and failure tests")
    row["engine_compliance_nmm"] = [s.compliance for s in problem.solve(occ, lay, problem.model)]
    try:
        if tests is None:
            tests = failure_tests(VoxelGrid(occ, lay.pitch, lay.origin), job, lay.cases, label, quiet=False,
                                  workers=None)
    except Exception as exc:  # a design the failure test refuses: an error of the comparison, never a loss
        errors.append(f"{label}: failure test: {exc}")
        tests = []
    row["failure_load_n"] = [t["failure_load_n"] for t in tests]
    row["safety_factor"] = [t["safety_factor"] for t in tests]
    row["failure_seconds"] = sum(t["seconds"] for t in tests)
    if tests and any(v is None for v in row["failure_load_n"]):
        errors.append(f"{label}: the failure test found no failure load in some load case")
    return row


def load(args) -> tuple:
    from fab.job import load_job
    from fab.morph.part_job import read_refine_job

    job = load_job(args.job)
    pitch = args.pitch if args.pitch is not None else (SMALL_PITCH if args.small else None)
    if pitch is not None:
        job = replace(job, voxels=replace(job.voxels, pitch=float(pitch)))
    morph = {**(job.morph or {}), "output": str(Path(args.out) / "refine")}
    if args.design_space is not None:
        morph["design_space"] = args.design_space if not args.design_space[0].isdigit() else float(
            args.design_space)
    job = replace(job, morph=morph)
    return job, read_refine_job(job, quiet=True)


def _relax_after_handover(sim, use_newton: bool) -> bool:
    """The development's solve before 1fedd16 (``--baseline``, with the fixed volume step of every remodelling
    step): multigrid, plain dynamic relaxation where it hands over (as physics.relaxation.relax does it)."""
    from fab.morph.part import SOLVE_STEPS, SOLVE_TOLERANCE
    from physics.relaxation import relax

    relax(sim, SOLVE_STEPS, SOLVE_TOLERANCE, multigrid=sim.body.count >= 800)
    return True


def speed(rj, baseline: bool = False) -> dict:
    """The quick refinement alone (the reference solves and one development with the default genes), timed;
    ``baseline``: first as before 1fedd16 (_relax_after_handover, a fixed volume step), in the same process."""
    from fab.morph import part
    from fab.morph.part import DEFAULT_GENOME

    out = {}
    if baseline:
        current, headroom = part._static, part._headroom_rate
        part._static = _relax_after_handover
        part._headroom_rate = lambda rate, worst, limit, goal: rate  # the fixed volume step of every step
        try:
            out["baseline"] = speed(rj)
        finally:
            part._static, part._headroom_rate = current, headroom
            part._REFERENCE.clear()
            part._SOLVED.clear()
    problem = rj.problem
    lay = problem.layout()
    say(f"speed: domain {int(lay.domain.sum())} cells at {lay.pitch:g} mm")
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    problem.reference()
    dev = problem.develop(np.array(DEFAULT_GENOME), progress=lambda s, n, text: say(f"refining {s}/{n}: {text}"))
    return {"pitch_mm": lay.pitch, "domain_cells": int(lay.domain.sum()), "quick_seconds": time.perf_counter() - t0,
            "quick_cpu_seconds": time.process_time() - c0, "load_average_during": [load0, os.getloadavg()],
            "refined_cells": int(dev.occupancy.sum()), "steps": dev.step,
            "mass_ratio": float(dev.occupancy.sum()) / float((lay.original & lay.domain | lay.keep_in).sum()),
            **out}  # fmt: skip


def quick(args, job, rj, errors: list[str]) -> dict:
    from fab.morph.part import DEFAULT_GENOME
    from fab.refine import failure_tests
    from fab.voxels import VoxelGrid

    problem = rj.problem
    lay = problem.layout()
    say(f"domain {int(lay.domain.sum())} cells at {lay.pitch:g} mm, original {int(lay.original.sum())}, "
        f"keep-in {int(lay.keep_in.sum())}, {len(lay.cases)} load cases")
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    problem.reference()
    dev = problem.develop(np.array(DEFAULT_GENOME), progress=lambda s, n, text: say(f"refining {s}/{n}: {text}"))
    quick_s, quick_cpu = time.perf_counter() - t0, time.process_time() - c0
    quick_load = [load0, os.getloadavg()]
    refined = dev.occupancy
    cells = int(refined.sum())
    say(f"quick refinement: {cells} cells in {quick_s:.1f} s; failure tests of the original and the refined part")
    original = lay.original & lay.domain | lay.keep_in
    fails = {}
    for label, occ in (("original", original), ("refined", refined)):
        try:
            fails[label] = failure_tests(VoxelGrid(occ, lay.pitch, lay.origin), job, lay.cases, label, quiet=False,
                                         workers=None)  # the load cases in processes of their own
        except Exception as exc:
            errors.append(f"{label}: failure test: {exc}")
            fails[label] = []
    sf = {k: (min(t["safety_factor"] for t in v) if v and all(t["safety_factor"] for t in v) else None)
          for k, v in fails.items()}  # fmt: skip
    for k, v in sf.items():
        if v is None:
            errors.append(f"{k}: the failure test found no safety factor in some load case")

    say(f"3D SIMP at {cells} cells ({cells / lay.domain.sum():.3f} of the domain)")
    mat = problem.material
    t1 = time.perf_counter()
    try:
        ref = simp3d(lay.domain, lay.keep_in, lay.fixed, [case_loads(lay, c) for c in lay.cases], cells, lay.pitch,
                     youngs_modulus=mat.youngs_modulus / 1e6, poisson_ratio=mat.poisson_ratio,
                     max_iterations=args.simp_iterations,
                     progress=lambda i, c, ch: i % 10 == 0 and say(f"SIMP {i}: compliance {c:.4g} N mm, "
                                                                   f"change {ch:.3f}"))  # fmt: skip
    except RuntimeError as exc:
        errors.append(f"SIMP: {exc}")
        return {"errors": errors}
    simp_s = time.perf_counter() - t1
    try:
        refined_pp = same_post(refined.astype(float), lay, problem.rules, cells)
        simp_pp = same_post(ref.density, lay, problem.rules, cells)
    except RuntimeError as exc:
        errors.append(f"post-processing: {exc}")
        return {"errors": errors}
    same = np.array_equal(refined_pp, refined)  # then its failure tests above are the compared design's
    rows = {"refined": judge("refined", refined_pp, lay, problem, job, errors, fails["refined"] if same else None),
            "simp": judge("simp", simp_pp, lay, problem, job, errors)}  # fmt: skip
    rows["refined"]["cells_changed_by_post_processing"] = int((refined_pp ^ refined).sum())
    density = job.material.density * 1e-6 * lay.pitch**3  # g per cell
    return {
        "pitch_mm": lay.pitch,
        "domain_cells": int(lay.domain.sum()),
        "quick_seconds": quick_s,
        "quick_cpu_seconds": quick_cpu,
        "load_average_during": quick_load,
        "mass_original_g": float(original.sum()) * density,
        "mass_refined_g": float(cells) * density,
        "mass_saving": 1.0 - cells / float(original.sum()),
        "safety_factor_original": sf["original"],
        "safety_factor_refined": sf["refined"],
        "failure_load_original_n": [t["failure_load_n"] for t in fails["original"]],
        "failure_load_refined_n": [t["failure_load_n"] for t in fails["refined"]],
        "simp": {"iterations": ref.iterations, "change": ref.change, "grey": ref.grey, "seconds": simp_s,
                 "solver": ref.solver, "compliance_grey_nmm": ref.compliance, "penal": 3.0, "rmin_pitches": 1.5},
        "compared": rows,
    }  # fmt: skip


def stiffness_job(args, job):
    """The job with the stiffness goal at ``--volume-fraction`` of its design space (the least-mass goal's safety
    factor dropped): the refinement's counterpart of SIMP's problem, minimum compliance at a volume."""
    from fab.morph.part_job import read_refine_job

    morph = {k: v for k, v in job.morph.items() if k != "safety_factor"}
    morph.update(goal="stiffness", volume_fraction=float(args.volume_fraction), mode="quick")
    job = replace(job, morph=morph)
    return job, read_refine_job(job, quiet=True)


def simp_settings(args, rules, pitch: float) -> dict:
    """simp3d's settings for ``--simp``: ``top3d``, Liu & Tovar's (penalty 3, density filter 1.5 pitches, move
    0.2, stop at a change <= 0.01); ``projected`` (the default), the peer at its best as the field runs it (Ferrari
    & Sigmund's top99neo, Wang, Lazarov & Sigmund's projection): the filter's radius twice the job's minimum
    thickness (``--simp-rmin``; at least 1.5 pitches: at the thickness itself the 0/1 design's 1-cell members go in
    the shared clean-up, measured at the sample's pitch), the penalty continued from 1 to 3 (+0.5 a stage) and a Heaviside projection's beta
    doubled from 1 to 32 (a stage: 20 iterations, or fewer where the change falls below 0.01); move 0.1, 0.05 at
    the last stage (0.2 makes OC oscillate at beta 32: no stop in 1,000 iterations on the 2.5 mm copy); stopped
    by the rule, change <= 0.01 or the objective within 0.1 % over 10 iterations. CG to a relative residual of
    1e-6 (the objective within 1e-9 of 1e-8's)."""
    if args.simp == "top3d":
        return {}
    rmin = args.simp_rmin if getattr(args, "simp_rmin", None) else 2.0 * rules.min_thickness
    return {"rmin": max(rmin, 1.5 * pitch), "penal_start": 1.0, "penal_step": 0.5, "beta_max": 32.0,
            "move": 0.1, "stage_iterations": 20, "final_move": 0.05, "objective_tolerance": 1e-3,
            "solver_tolerance": 1e-6}


def simp_case(args, job, errors: list[str]) -> dict:
    """Stiffest at a volume fraction, both ways, on the same domain, keep-in, supports and load cases: the
    refinement's quick mode with the stiffness goal against simp3d run to its own stopping rule, both at
    ``--volume-fraction`` of the domain; then the same post-processing (same_post: threshold, the job's rules,
    refill to the same cell count) and the same judges (CalculiX C3D8I, SIMP's H8 model, the engine's solve and
    failure test) on both. Wall and CPU seconds of each side, the load average beside."""
    from fab.morph.part import default_genome

    job, rj = stiffness_job(args, job)
    problem = rj.problem
    lay = problem.layout()
    cells = round(problem.volume_fraction * float(lay.domain.sum()))
    say(f"simp case: domain {int(lay.domain.sum())} cells at {lay.pitch:g} mm, keep-in {int(lay.keep_in.sum())}, "
        f"{len(lay.cases)} load cases, volume fraction {problem.volume_fraction:g} ({cells} cells)")
    out: dict = {"pitch_mm": lay.pitch, "domain_cells": int(lay.domain.sum()), "keep_in_cells": int(lay.keep_in.sum()),
                 "volume_fraction": problem.volume_fraction, "cells": cells}  # fmt: skip
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    problem.reference()
    dev = problem.develop(np.array(default_genome(problem.goal)), progress=lambda s, n, text: say(f"refining {s}/{n}: {text}"))
    out["refined_raw"] = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                          "load_average": [load0, os.getloadavg()], "steps": dev.step,
                          "cells": int(dev.occupancy.sum()), "engine_compliance_nmm": list(dev.compliance)}  # fmt: skip
    say(f"refined (stiffness goal): {int(dev.occupancy.sum())} cells after {dev.step} steps in "
        f"{out['refined_raw']['seconds']:.1f} s; 3D SIMP at {cells} cells")
    mat = problem.material
    e_mpa, nu = mat.youngs_modulus / 1e6, mat.poisson_ratio
    # The objective both sides minimise: the mean over the load cases of the compliance over the whole domain's
    # (the stiffness goal's score; a plain sum would leave the 15 N case to the 40 N one). Each side weighs
    # the cases by its own model's whole domain: SIMP by its H8 solve (in its time), the refinement by the engine's.
    load0 = os.getloadavg()
    t1, c1 = time.perf_counter(), time.process_time()
    try:
        domain_h8 = [h8_compliance(lay.domain, lay.fixed, case_loads(lay, c), lay.pitch, e_mpa, nu) for c in lay.cases]
        ref = simp3d(lay.domain, lay.keep_in, lay.fixed, [case_loads(lay, c) for c in lay.cases], cells, lay.pitch,
                     youngs_modulus=e_mpa, poisson_ratio=nu, max_iterations=args.simp_iterations,
                     weights=[1.0 / c for c in domain_h8], **simp_settings(args, problem.rules, lay.pitch),
                     progress=lambda i, c, ch: i % 10 == 0 and say(f"SIMP {i}: objective {c:.4g}, change {ch:.3f}"))
    except RuntimeError as exc:
        errors.append(f"SIMP: {exc}")
        return {**out, "errors": errors}
    settings = simp_settings(args, problem.rules, lay.pitch)
    out["simp"] = {"iterations": ref.iterations, "change": ref.change, "converged": ref.converged,
                   "grey": ref.grey, "seconds": time.perf_counter() - t1, "cpu_seconds": time.process_time() - c1,
                   "load_average": [load0, os.getloadavg()], "solver": ref.solver, "solver_stats": ref.solver_stats,
                   "objective_grey": ref.compliance, "settings": args.simp, "penal": ref.penal, "beta": ref.beta,
                   "rmin_pitches": settings.get("rmin", 1.5 * lay.pitch) / lay.pitch,
                   "domain_h8_compliance_nmm": domain_h8}  # fmt: skip
    if not ref.converged:
        say(f"SIMP stopped at --simp-iterations {args.simp_iterations} before its own stopping rule "
            f"(change {ref.change:.3f})")
    try:
        refined_pp = same_post(dev.density if dev.density is not None else dev.occupancy.astype(float), lay,
                               problem.rules, cells)
        simp_pp = same_post(ref.density, lay, problem.rules, cells)
    except RuntimeError as exc:
        errors.append(f"post-processing: {exc}")
        return {**out, "errors": errors}
    say("the whole domain by CalculiX (the objective's yardstick)")
    try:
        out["domain_ccx_compliance_nmm"] = calculix(lay.domain, lay, mat)["ccx_compliance_nmm"]
    except VoxelFEError as exc:
        errors.append(f"domain: CalculiX: {exc}")
    rows = {}
    for label, occ in (("refined", refined_pp), ("simp", simp_pp)):
        if args.skip_failure:
            rows[label] = judge(label, occ, lay, problem, job, errors, tests=[])
        else:
            rows[label] = judge(label, occ, lay, problem, job, errors)
    rows["refined"]["cells_changed_by_post_processing"] = int((refined_pp ^ dev.occupancy).sum())
    rows["simp"]["cells_changed_by_post_processing"] = int((simp_pp ^ (ref.density >= 0.5)).sum())
    out["simp_before_rules"] = before_rules(ref.density, lay, problem.rules, cells, e_mpa, nu, domain_h8)
    rows["refined"]["h8_objective"] = float(np.mean([a / b for a, b in zip(rows["refined"]["h8_compliance_nmm"],
                                                                           domain_h8, strict=True)]))  # fmt: skip
    out["compared"] = rows
    return out


def search(args, job, workers: int, scheduler: str | None) -> dict:
    from fab.refine import refine

    morph = {**job.morph, "generations": args.generations, "population": args.population}
    job = replace(job, morph=morph)
    say(f"search: {args.generations} x {args.population}, {workers} worker(s), {scheduler or 'process pool'}")
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), _cpu()
    summary = refine(job, mode="search", failure=False, exports=False, workers=workers, scheduler=scheduler,
                     quiet=False)  # fmt: skip
    info = summary.get("search", {})
    gens = info.get("generation_seconds", [])
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu() - c0, "workers": workers,
            "executor": info.get("executor"), "load_average_during": [load0, os.getloadavg()],
            "generations": info.get("generations"), "evaluations": info.get("evaluations"),
            "generation_seconds": gens, "search_seconds": info.get("seconds"),
            # what is not the generations: voxelizing, the reference solves, re-scoring, the final development
            "other_seconds": time.perf_counter() - t0 - sum(gens),
            "mass_saving": summary.get("mass_saving")}  # fmt: skip


def designs(rj, population: int) -> dict:
    """The search's first generation developed here one after another (module docstring, ``designs``)."""
    import numba

    from fab.morph.search import _optimizer

    problem = rj.problem.with_references()
    genomes = _optimizer(problem.dimension, replace(rj.settings, population=population)).ask()
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    rows = []
    try:
        for i, genome in enumerate(genomes):
            load0, c0 = os.getloadavg()[0], time.process_time()
            ev = problem.evaluate(np.asarray(genome))
            m = ev.metrics
            rows.append({"cpu_seconds": time.process_time() - c0, "load": load0, "score": ev.score,
                         "cells": m.get("cells"), "steps": m.get("steps"), "guards": list(ev.guards),
                         "safety_ratio": m.get("estimated_safety_ratio"), "mass_ratio": m.get("mass_ratio")})  # fmt: skip
            say(f"design {i + 1}/{len(genomes)}: {rows[-1]['cpu_seconds']:.1f} s of CPU, score {ev.score:.6f}")
    finally:
        numba.set_num_threads(threads)
    return {"domain_cells": int(problem.layout().domain.sum()), "designs": rows}


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the search's pool, once closed)."""
    import resource

    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))  # fmt: skip


def _case_rows(r: dict, s: dict, f, indent: str = "") -> list[tuple[str, str, str]]:
    """Per load case, the refined design's and SIMP's figures side by side (CalculiX, H8, engine, failure);
    ``f`` formats a figure that may be None."""
    rows = []
    for c in range(len(r["engine_compliance_nmm"])):
        def pair(key, fmt, c=c):
            a, b = r.get(key), s.get(key)
            return f"{f(a[c] if a else None, fmt)} / {f(b[c] if b else None, fmt)}"

        rows += [
            (f"{indent}case {c + 1}: compliance CalculiX C3D8I (N mm) refined / SIMP", pair("ccx_compliance_nmm", ".4g"), ""),
            (f"{indent}case {c + 1}: peak von Mises CalculiX (MPa) refined / SIMP", pair("ccx_max_von_mises_mpa", ".3g"), ""),
            (f"{indent}case {c + 1}: compliance H8 (SIMP's model) refined / SIMP", pair("h8_compliance_nmm", ".4g"), ""),
            (f"{indent}case {c + 1}: compliance engine (refined's scorer) refined / SIMP", pair("engine_compliance_nmm", ".4g"), ""),
            (f"{indent}case {c + 1}: failure load fab.stress (N) refined / SIMP", pair("failure_load_n", ".4g"), ""),
        ]  # fmt: skip
    return rows


def simp_report(q: dict | None, errors: list[str], f) -> tuple[bool | None, bool | None, list]:
    """The simp case's lines and its two verdicts (None: not measured)."""
    if not q or "compared" not in q:
        return None, None, []
    r, s, rr, sp = q["compared"]["refined"], q["compared"]["simp"], q["refined_raw"], q["simp"]
    lines = [
        ("simp case: domain cells / keep-in / pitch", f"{q['domain_cells']} / {q['keep_in_cells']} / {q['pitch_mm']:g} mm", ""),
        ("  volume fraction asked / cells", f"{q['volume_fraction']:g} / {q['cells']}", ""),
        ("  refined (stiffness goal, quick): s / CPU s / load at start, end",
         f"{rr['seconds']:.1f} / {rr['cpu_seconds']:.1f} / {rr['load_average'][0][0]:.1f}, {rr['load_average'][1][0]:.1f}", ""),
        ("  ... steps / cells before post-processing", f"{rr['steps']} / {rr['cells']}", ""),
        ("  SIMP: s / CPU s / load at start, end",
         f"{sp['seconds']:.1f} / {sp['cpu_seconds']:.1f} / {sp['load_average'][0][0]:.1f}, {sp['load_average'][1][0]:.1f}", ""),
        ("  SIMP: settings / filter radius (pitches) / penalty, beta at the end",
         f"{sp.get('settings', 'top3d')} / {sp['rmin_pitches']:g} / {sp['penal']:g}, {sp.get('beta', 0):g}", ""),
        ("  SIMP: iterations / change / stopped by its rule / grey share (0.1-0.9) / solver",
         f"{sp['iterations']} / {sp['change']:.3f} / {sp['converged']} / {sp['grey']:.3f} / {sp['solver']}",
         "rule: change <= 0.01 or objective flat"),
        ("  volume fraction after post-processing refined / SIMP", f"{r['volume_fraction']:.4f} / {s['volume_fraction']:.4f}", "equal"),
        ("  cells changed by the post-processing refined / SIMP (vs x >= 0.5)",
         f"{r['cells_changed_by_post_processing']} / {s['cells_changed_by_post_processing']}", ""),
        ("  thin share refined / SIMP", f"{r['thin_fraction']:.3f} / {s['thin_fraction']:.3f}", ""),
    ]  # fmt: skip
    if "simp_before_rules" in q and "h8_objective" in r:
        b = q["simp_before_rules"]
        lines += [
            ("  SIMP's own 0/1 design before the rules: cells they take off / H8 objective",
             f"{b['cells_removed_by_rules']} / {b['h8_objective']:.4f}", "not a figure: it breaks the job's rules"),
            ("  ... the refined (after them) / that H8 objective", f"{r['h8_objective'] / b['h8_objective']:.3f}", ""),
        ]  # fmt: skip
    lines += [
        ("  failure tests s refined / SIMP", f"{r['failure_seconds']:.0f} / {s['failure_seconds']:.0f}", ""),
    ]  # fmt: skip
    lines += _case_rows(r, s, f, indent="  ")
    if errors:
        return None, None, lines
    ok_ccx = ok_fail = None
    if r.get("ccx_compliance_nmm") and s.get("ccx_compliance_nmm") and q.get("domain_ccx_compliance_nmm"):
        dom = q["domain_ccx_compliance_nmm"]
        objective = [float(np.mean([c / d for c, d in zip(x["ccx_compliance_nmm"], dom, strict=True)])) for x in (r, s)]
        ratio = objective[0] / objective[1]
        ok_ccx = ratio <= 1.10
        lines += [
            ("  whole domain's compliance CalculiX (N mm), each case", " / ".join(f"{d:.4g}" for d in dom), ""),
            ("  objective (mean compliance / the domain's) refined / SIMP", f"{objective[0]:.4f} / {objective[1]:.4f}", ""),
            ("  compliance ratio refined / SIMP (CalculiX, the objective)", f"{ratio:.3f}", "<= 1.10"),
            ("  compliance ratio refined / SIMP (CalculiX, plain sum)",
             f"{sum(r['ccx_compliance_nmm']) / sum(s['ccx_compliance_nmm']):.3f}", ""),
        ]  # fmt: skip
    for key, name in (("h8_compliance_nmm", "H8"), ("engine_compliance_nmm", "engine")):
        each = " / ".join(f"{a / b:.3f}" for a, b in zip(r[key], s[key], strict=True))
        lines.append((f"  compliance ratio refined / SIMP ({name}), each case", each, ""))
    if r["failure_load_n"] and s["failure_load_n"]:
        ratio = min(a / b for a, b in zip(r["failure_load_n"], s["failure_load_n"], strict=True))
        ok_fail = ratio >= 1.0
        lines.append(("  failure load ratio refined / SIMP (worst case)", f"{ratio:.3f}", ">= 1"))
    return ok_ccx, ok_fail, lines


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT met")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default=str(ROOT / "samples" / "bracket_refine" / "job.toml"))
    parser.add_argument("--cases", default="quick", help="comma-separated: quick, speed, simp, search, dask, designs")
    parser.add_argument("--small", action="store_true", help=f"the job at a {SMALL_PITCH} mm pitch (a tiny domain)")
    parser.add_argument("--pitch", type=float, default=None, help="mm, overrides the job's (and --small's)")
    parser.add_argument("--design-space", default=None, help="overrides [morph] design_space: part, bbox or mm")
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--simp-iterations", type=int, default=None,
                        help="SIMP's cap (default 200 with top3d's settings, its stop a change <= 0.01; 1,000 with "
                             "projected, which stops by its rule near 115)")
    parser.add_argument("--simp", choices=("top3d", "projected"), default="projected",
                        help="simp: SIMP's settings, the projected ones (the default: filter radius --simp-rmin, "
                             "continuation, projection: stopped by its rule, near 0/1) or top3d's")
    parser.add_argument("--simp-rmin", type=float, default=None,
                        help="simp, --simp projected: the filter's radius in mm (default twice the job's minimum "
                             "thickness: at the thickness itself SIMP's 1-cell members go in the shared clean-up)")
    parser.add_argument("--volume-fraction", type=float, default=0.5,
                        help="simp: the volume fraction of the design space both sides are given")
    parser.add_argument("--skip-failure", action="store_true",
                        help="simp: no failure tests (a quick look: the failure-load target is not measured)")
    parser.add_argument("--baseline", action="store_true", help="speed: also the solve before 1fedd16, same run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.simp_iterations is None:
        args.simp_iterations = 1000 if args.simp == "projected" else 200
    wanted = {c.strip() for c in args.cases.split(",") if c.strip()}
    if not wanted or wanted - {"quick", "speed", "simp", "search", "dask", "designs"}:
        parser.error(f"--cases takes quick, speed, simp, search, dask, designs; got {args.cases!r}")

    errors: list[str] = []
    result: dict = {"load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench_refine_") as tmp:
        args.out = tmp
        job, rj = load(args)
        runs = {
            "quick": lambda: quick(args, job, rj, errors) if "quick" in wanted else speed(rj, args.baseline),
            "simp": lambda: simp_case(args, job, errors),
            "search": lambda: search(args, job, 2, None),
            "dask": lambda: [search(args, job, w, "local") for w in (1, 2)],
            "designs": lambda: designs(rj, args.population),
        }
        for name, run in runs.items():
            if name in wanted or (name == "quick" and "speed" in wanted):
                try:
                    result[name] = run()
                except Exception as exc:  # a solve or test that fails is an error of the benchmark, never a win
                    errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
    result["errors"] = errors
    if args.json:
        print(json.dumps(result, default=float))
        return 1 if errors else 0
    return report(result, args)


def report(result: dict, args) -> int:
    errors = result["errors"]
    lines: list[tuple[str, str, str]] = [("load average (1, 5, 15 min)", " ".join(f"{v:.1f}" for v in
                                                                            result["load_average"]), "")]

    def f(v, fmt):
        return "ERROR" if v is None else format(v, fmt)

    q = result.get("quick")
    if q and "compared" in q:
        r, s = q["compared"]["refined"], q["compared"]["simp"]
        small = args.small or args.pitch is not None or args.design_space is not None
        lines += [
            ("domain cells / pitch", f"{q['domain_cells']} / {q['pitch_mm']:g} mm", "small" if small else ""),
            ("mass original / refined (g)", f"{q['mass_original_g']:.2f} / {q['mass_refined_g']:.2f}", ""),
            ("mass saving", f"{q['mass_saving']:.3f}", ">= 0.30"),
            ("safety factor original / refined (fab.stress)",
             f"{f(q['safety_factor_original'], '.3g')} / {f(q['safety_factor_refined'], '.3g')}", "refined >= original"),
            ("SIMP iterations / change / grey share / s / solver",
             f"{q['simp']['iterations']} / {q['simp']['change']:.3f} / {q['simp']['grey']:.2f} / "
             f"{q['simp']['seconds']:.0f} / {q['simp']['solver']}", ""),
            ("cells refined / SIMP (after the same post-processing)", f"{r['cells']} / {s['cells']}", "equal"),
            ("refined cells changed by the post-processing", str(r["cells_changed_by_post_processing"]), ""),
            ("thin share refined / SIMP", f"{r['thin_fraction']:.3f} / {s['thin_fraction']:.3f}", ""),
        ]  # fmt: skip
        lines += _case_rows(r, s, f)
    ok_ccx = ok_fail = ok_mass = ok_speed = ok_speed_cpu = None
    if q and "compared" in q and not errors:
        ccx_ratio = sum(r["ccx_compliance_nmm"]) / sum(s["ccx_compliance_nmm"])
        fail_ratio = min(a / b for a, b in zip(r["failure_load_n"], s["failure_load_n"], strict=True))
        ok_ccx, ok_fail = ccx_ratio <= 1.10, fail_ratio >= 1.0
        ok_mass = q["mass_saving"] >= 0.30 and q["safety_factor_refined"] >= q["safety_factor_original"]
        lines += [("compliance ratio refined / SIMP (CalculiX, summed over cases)", f"{ccx_ratio:.3f}", "<= 1.10"),
                  ("failure load ratio refined / SIMP (worst case)", f"{fail_ratio:.3f}", ">= 1")]  # fmt: skip
    if q and "quick_seconds" in q:
        near = abs(q["domain_cells"] - 20000) <= 5000
        ok_speed = (q["quick_seconds"] <= 120) if near else None
        ok_speed_cpu = (q["quick_cpu_seconds"] <= 120) if near else None
        lines.append(("quick mode (reference solves + development) s", f"{q['quick_seconds']:.1f}",
                      "<= 120 on 20,000 cells" if near else f"{q['domain_cells']} cells: not the target's size"))
        (a, _, _), (b, _, _) = q["load_average_during"]
        lines.append(("  its CPU seconds (this process) / load average at start, end",
                      f"{q['quick_cpu_seconds']:.1f} / {a:.1f}, {b:.1f}",
                      "<= 120 on 20,000 cells (what a quiet machine's wall time can reach)" if near else ""))
        lines.append(("  mass / the original's, remodelling steps", f"{q['mass_ratio']:.3f}, {q['steps']}", ""))
        if "baseline" in q:
            o = q["baseline"]
            (a, _, _), (b, _, _) = o["load_average_during"]
            lines += [
                ("  before 1fedd16 (ADR after a multigrid handover, fixed step), same run: s / CPU s / load",
                 f"{o['quick_seconds']:.1f} / {o['quick_cpu_seconds']:.1f} / {a:.1f}, {b:.1f}", ""),
                ("  ... its mass / the original's, steps", f"{o['mass_ratio']:.3f}, {o['steps']}", ""),
                ("  speed-up now / before (CPU seconds)", f"{o['quick_cpu_seconds'] / q['quick_cpu_seconds']:.2f}", ""),
            ]  # fmt: skip
    ok_simp_ccx, ok_simp_fail, simp_lines = simp_report(result.get("simp"), errors, f)
    lines += simp_lines
    ok_search = ok_dask = None
    if "search" in result:
        sr = result["search"]
        full = args.generations == 10 and args.population == 8 and (q is None or abs(q["domain_cells"] - 20000) <= 5000)
        ok_search = (sr["seconds"] <= 1200) if full else None
        (a, _, _), (b, _, _) = sr["load_average_during"]
        lines.append((f"search {sr['generations']} gen. / {sr['evaluations']} evals, {sr['executor']} s "
                      "(load at start, end)", f"{sr['seconds']:.0f} ({a:.1f}, {b:.1f})",
                      "<= 1200 for 10 x 8 on 20,000 cells"))  # fmt: skip
        gens = sr["generation_seconds"]
        lines += [
            ("  CPU seconds (this process and the pool's)", f"{sr['cpu_seconds']:.0f}", ""),
            ("  generations s (each)", " ".join(f"{g:.0f}" for g in gens), ""),
            ("  other s (voxels, reference, re-scoring, final development)", f"{sr['other_seconds']:.0f}", ""),
        ]
        if gens and not full:
            est = 10 * sum(gens) / len(gens) + sr["other_seconds"]
            lines.append(("  10 generations at this mean generation time + other s", f"{est:.0f}",
                          "an estimate at this load, not the target's figure"))  # fmt: skip
    if "designs" in result:
        rows = result["designs"]["designs"]
        for i, r in enumerate(rows):
            lines.append((f"generation 1 design {i + 1}: CPU s (load), score, cells, safety / mass ratio",
                          f"{r['cpu_seconds']:.1f} ({r['load']:.1f}), {r['score']:.6f}, {r['cells']}, "
                          f"{f(r['safety_ratio'], '.4f')} / {f(r['mass_ratio'], '.4f')}", ""))  # fmt: skip
        lines.append(("  mean CPU s a design (one numba thread)",
                      f"{np.mean([r['cpu_seconds'] for r in rows]):.1f}", ""))  # fmt: skip
    if "dask" in result:
        one, two = result["dask"]
        speedup = one["seconds"] / two["seconds"]
        ok_dask = speedup >= 1.6  # "faster in proportion to its workers": within 20 % of 2x
        lines.append(("search on local dask, 1 / 2 workers (s), speed-up (load at start of each)",
                      f"{one['seconds']:.0f} / {two['seconds']:.0f}, {speedup:.2f} "
                      f"({one['load_average_during'][0][0]:.1f}, {two['load_average_during'][0][0]:.1f})",
                      ">= 1.6 (2x within 20 %)"))  # fmt: skip
    width = max(len(n) for n, _, _ in lines)
    for name, value, target in lines:
        print(f"{name:<{width}}  {value:<28}  {target}")
    for err in errors:
        print(f"ERROR {err}")
    if errors:
        print("no verdict: an evaluation failed (an error is never a win)")
        return 1
    for name, ok in (("mass >= 30 % lighter at the original's safety factor", ok_mass),
                     ("least-mass design: compliance within 10 % of SIMP at its volume (CalculiX)", ok_ccx),
                     ("least-mass design: failure load >= SIMP's at its volume (fab.stress)", ok_fail),
                     ("stiffness goal: compliance within 10 % of SIMP's (CalculiX)", ok_simp_ccx),
                     ("stiffness goal: failure load >= SIMP's (fab.stress)", ok_simp_fail),
                     ("quick mode <= 2 min on a 20,000-voxel domain (wall)", ok_speed),
                     ("quick mode <= 2 min on a 20,000-voxel domain (CPU seconds)", ok_speed_cpu),
                     ("search 10 x 8 <= 20 min", ok_search),
                     ("dask 2 workers ~2x faster than 1", ok_dask)):  # fmt: skip
        print(f"target: {name}: {verdict(ok)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
