"""Accuracy and speed of the stress pipeline (fab.stress.stress_test) against beam theory and CalculiX.

    .venv/bin/python benchmarks/bench_stress.py                       # bar + bracket, pmb + lps, 200k timing
    .venv/bin/python benchmarks/bench_stress.py --cases bar --models pmb --pitches 2,1 --no-big
    .venv/bin/python benchmarks/bench_stress.py --json out/bench_stress.json

Parts (CadQuery, written to STEP; the pipeline and gmsh both read that same STEP):
- bar: 100 x 10 x 10 mm along x, clamped at "<X", total tip force 10 N in -z on ">X";
- bracket: L in the xz plane, horizontal leg 60 x 10 x 10 mm, upright 10 x 10 x 50 mm at its far end; clamped
  at the free end of the horizontal leg ("<X"), 10 N in +x on the top of the upright (">Z").
Loads are small (tip deflection about 1 % of the span) so that geometric nonlinearity of the particle model
stays below 0.1 %, and stresses are far below PLA's strength (no bond breaks).

Material: PLA (E 3.5 GPa). Bond-based PMB fixes nu = 1/4, so PMB rows use PLA with nu = 0.25 and LPS rows
PLA's own nu = 0.36; each FE reference uses the same nu as the row it is compared with.

Quantities compared (same on both sides):
- "face mean": mean displacement along the load of the loaded region. Ours: mean over the particles of the
  load region (the same expression, one pitch deep). FE: area average over the loaded face (consistent
  6-node-triangle weights). Beam theory (bar only): Timoshenko P L^3/(3EI) + P L/(kGA), k = 5/6.
- "max |u|": largest displacement magnitude at the same points on both sides: our particle centres (half a
  pitch inside the surface). Ours: report.max_displacement_mm; FE: its displacement field evaluated at those
  centres with the quadratic shape functions of the element holding each (fe_reference.displacement_at),
  not its largest nodal |u| (nodes sit on the surface, where |u| is larger).
The FE reference is the finest of a mesh-convergence series (second-order tetrahedra, gmsh, C3D10, ccx); the
convergence table is printed. PASS when |ratio - 1| <= 10 % and the solve converged: every solve here runs to
the equilibrium criterion itself (fab's acceptance of a stalled solve within STALL_SLACK x the tolerances is
switched off), so "converged" means converged.

Then a 200k-particle static test of the bracket (count=200000) for each of --big-models: seconds, particle
count, iterations, converged flag and the load average; the target is equilibrium within 60 s on 2 cores. Static
tests run Newton-Krylov with the multigrid preconditioner (physics/newton.py, fab's default); a smaller bracket
(--compare-count) is solved by Newton, by the multigrid solver alone and by plain ADR in the same run under the
same stop rule (the criterion itself, no stall acceptance on any side), to compare time and results (max |u|,
max von Mises, reaction).

    .venv/bin/python benchmarks/bench_stress.py --cases bar --models pmb --no-fe --pitches 2 --big-models pmb,lps

Needs gmsh (pip install gmsh: the 'bench' extra) and CalculiX (apt-get install calculix-ccx); without them the
FE rows are skipped with a message and the beam-theory rows still run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fe_reference import (  # noqa: E402
    FEError,
    FESolution,
    bar_shape,
    bracket_shape,
    ccx_path,
    displacement_at,
    solve_static,
    tet10_mesh,
    timoshenko_tip_mm,
    write_step,
)

from exporters.atomic import atomic_open  # noqa: E402
from fab.materials import get_material  # noqa: E402
from fab.regions import select  # noqa: E402

TOLERANCE = 0.10
BIG_COUNT = 200_000
BIG_SECONDS = 60.0
MODEL_NU = {"pmb": 0.25, "lps": None}  # None: the material's own Poisson ratio


@dataclass(frozen=True)
class Case:
    name: str
    shape: object  # callable returning a cq.Workplane
    fix: str
    load: str
    force_n: tuple[float, float, float]
    beam: tuple[float, float, float] | None = None  # (length, width, height) mm for Timoshenko


CASES = {
    "bar": Case("bar", bar_shape, "<X", ">X", (0.0, 0.0, -10.0), beam=(100.0, 10.0, 10.0)),
    "bracket": Case("bracket", bracket_shape, "<X", ">Z", (10.0, 0.0, 0.0)),
}


def load_direction(case: Case) -> np.ndarray:
    f = np.asarray(case.force_n, dtype=float)
    return f / np.linalg.norm(f)


def material_for(model: str, base: str = "PLA") -> dict:
    nu = MODEL_NU[model]
    return {"name": base} if nu is None else {"name": base, "poisson_ratio": nu}


def run_ours(
    step: Path,
    case: Case,
    model: str,
    *,
    pitch: float | None,
    count: int | None,
    steps: int | None,
    progress: bool = False,
):
    """One stress_test; returns (report, face mean along the load in mm, wall seconds of the whole call)."""
    import fab.equilibrium as fab_equilibrium
    from fab.stress import stress_test

    fx, fy, fz = case.force_n
    saved = fab_equilibrium.STALL_SLACK
    fab_equilibrium.STALL_SLACK = 0.0  # converged means the criterion itself, never a stall accepted near it
    t0 = time.perf_counter()
    try:
        report = stress_test(
            str(step),
            material=material_for(model),
            pitch=pitch,
            count=count,
            fix=(case.fix,),
            load=(f"{case.load}:force={fx:g},{fy:g},{fz:g}",),
            test="static",
            model=model,
            steps=steps,
            progress=progress,
        )
    finally:
        fab_equilibrium.STALL_SLACK = saved
    wall = time.perf_counter() - t0
    pts = np.asarray(report.points_mm)
    mask = select(case.load, pts, pitch_mm=report.pitch_mm)
    face = float((np.asarray(report.displacement_mm)[mask] @ load_direction(case)).mean())
    return report, face, wall


def fe_series(step: Path, case: Case, youngs: float, nu: float, sizes: list[float]) -> list[FESolution]:
    out = []
    for h in sizes:
        mesh = tet10_mesh(step, h)
        out.append(solve_static(mesh, youngs, nu, fix=case.fix, load=case.load, force_n=case.force_n))
    return out


def row(case, model, particles, pitch, seconds, quantity, ours, reference, ref_name, converged=None) -> dict:
    """One comparison; an unconverged solve cannot pass, whatever its ratio."""
    ratio = ours / reference if reference else float("nan")
    return {
        "case": case,
        "model": model,
        "particles": particles,
        "pitch_mm": pitch,
        "seconds": seconds,
        "quantity": quantity,
        "ours_mm": ours,
        "reference": ref_name,
        "reference_mm": reference,
        "ratio": ratio,
        "converged": converged,
        "pass": bool(abs(ratio - 1.0) <= TOLERANCE) and converged is not False,
    }


ROW_HEAD = (
    f"{'case':8} {'model':5} {'particles':>9} {'pitch':>5} {'seconds':>8} {'quantity':16} "
    f"{'ours mm':>10} {'reference':18} {'ref mm':>10} {'ratio':>6}  result"
)
FE_HEAD = (
    f"{'case':8} {'nu':>5} {'h mm':>5} {'nodes':>7} {'C3D10':>7} {'mesh s':>7} {'ccx s':>6} "
    f"{'face mean mm':>13} {'max |u| mm':>11} {'change':>8}"
)


def format_row(r: dict) -> str:
    conv = "" if r["converged"] in (None, True) else " (not converged)"
    pitch = f"{r['pitch_mm']:.3g}" if r["pitch_mm"] else "-"
    parts = str(r["particles"]) if r["particles"] else "-"
    return (
        f"{r['case']:8} {r['model']:5} {parts:>9} {pitch:>5} {r['seconds']:8.1f} {r['quantity']:16} "
        f"{r['ours_mm']:10.5f} {r['reference']:18} {r['reference_mm']:10.5f} {r['ratio']:6.3f}  "
        f"{'PASS' if r['pass'] else 'FAIL'}{conv}"
    )


def format_fe(c: dict) -> str:
    ch = "" if c["change"] is None else f"{100 * c['change']:+.2f} %"
    return (
        f"{c['case']:8} {c['nu']:5.2f} {c['size_mm']:5.2f} {c['nodes']:7d} {c['elements']:7d} "
        f"{c['mesh_seconds']:7.1f} {c['ccx_seconds']:6.1f} {c['face_mean_mm']:13.5f} "
        f"{c['max_mm']:11.5f} {ch:>8}"
    )


def fe_reference(
    step: Path, case: Case, youngs: float, nu: float, sizes: list[float], convergence: list[dict]
) -> FESolution | None:
    """The finest solution of the mesh series (None when the FE side is unavailable); logs the series."""
    try:
        series = fe_series(step, case, youngs, nu, sizes)
    except FEError as exc:
        print(f"{case.name}: FE reference skipped: {exc}", flush=True)
        return None
    d = load_direction(case)
    prev = None
    for s in series:
        face = float(s.face_mean_mm @ d)
        c = {
            "case": case.name,
            "nu": nu,
            "size_mm": s.mesh.size_mm,
            "nodes": s.nodes,
            "elements": s.elements,
            "mesh_seconds": s.mesh.seconds,
            "ccx_seconds": s.seconds,
            "face_mean_mm": face,
            "max_mm": s.max_displacement_mm,
            "change": None if prev is None else face / prev - 1.0,
        }
        convergence.append(c)
        print("FE  " + format_fe(c), flush=True)
        prev = face
    return series[-1]


def beam_reference(case: Case, youngs: float, nu: float) -> float | None:
    if case.beam is None:
        return None
    return timoshenko_tip_mm(float(np.linalg.norm(case.force_n)), *case.beam, youngs, nu)


def compare(
    case: Case, model: str, report, face: float, beam: float | None, fe: FESolution | None
) -> list[dict]:
    """The rows of one particle run: face mean vs beam theory and FE, max |u| vs FE."""
    common = (case.name, model, report.particles, report.pitch_mm, report.seconds)
    out = []
    if beam is not None:
        out.append(row(*common, "face mean", face, beam, "Timoshenko", report.converged))
    if fe is not None:
        label = f"FE C3D10 h={fe.mesh.size_mm:g}"
        ref = float(fe.face_mean_mm @ load_direction(case))
        out.append(row(*common, "face mean", face, ref, label, report.converged))
        at_ours = np.linalg.norm(displacement_at(fe, np.asarray(report.points_mm)), axis=1)
        out.append(
            row(
                *common,
                "max |u| @centres",
                report.max_displacement_mm,
                float(np.nanmax(at_ours)),
                label,
                report.converged,
            )
        )
    return out


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def big_run(step: Path, model: str, count: int, steps: int | None, progress: bool) -> dict | None:
    """The timing run: the bracket at ``count`` particles, static, to equilibrium."""
    case = CASES["bracket"]
    print(f"\n{count}-particle static test: bracket, {model}, count={count} ({_load()})", flush=True)
    try:
        report, face, wall = run_ours(
            step, case, model, pitch=None, count=count, steps=steps, progress=progress
        )
    except Exception as exc:  # report it as a row, do not hide the table above
        print(f"  failed: {exc}")
        return None
    ok = bool(report.converged) and report.seconds <= BIG_SECONDS
    load = _load()
    print(
        f"  particles {report.particles}, pitch {report.pitch_mm:.4g} mm, solve {report.seconds:.1f} s "
        f"(whole call with import and voxelization {wall:.1f} s), {report.steps} iterations, converged "
        f"{report.converged}, face mean {face:.5f} mm, max |u| {report.max_displacement_mm:.5f} mm: "
        f"{'PASS' if ok else 'FAIL'} (target: converged within {BIG_SECONDS:.0f} s; {load})"
    )
    return {
        "case": case.name,
        "model": model,
        "particles": report.particles,
        "pitch_mm": report.pitch_mm,
        "seconds": report.seconds,
        "wall_seconds": wall,
        "iterations": report.steps,
        "converged": bool(report.converged),
        "face_mean_mm": face,
        "max_mm": report.max_displacement_mm,
        "target_seconds": BIG_SECONDS,
        "load_average": load,
        "pass": ok,
    }


def solver_compare(step: Path, model: str, count: int, steps: int | None) -> dict | None:
    """The bracket at ``count`` particles solved by Newton-Krylov (fab's default static path), by multigrid and by
    plain ADR: seconds, iterations and the relative differences of max |u|, max von Mises and the reaction
    (Newton and multigrid against ADR). Each row forces its solver: Newton off for the other two (fab's
    static path takes Newton wherever it applies, so switching multigrid's threshold alone ran Newton twice)."""
    from fab import equilibrium
    from physics import relaxation

    case = CASES["bracket"]
    print(f"\nNewton and multigrid vs ADR: bracket, {model}, count={count} ({_load()})", flush=True)
    out: dict = {"model": model}
    saved = relaxation.MULTIGRID_MIN, equilibrium.NEWTON
    try:
        # The same stop rule on every side: run_ours switches fab's stall acceptance off for every solve.
        for solver, threshold, use_newton in (("newton", 0, True), ("multigrid", 0, False), ("adr", 10**12, False)):
            relaxation.MULTIGRID_MIN = threshold
            equilibrium.NEWTON = use_newton
            try:
                report, face, _ = run_ours(step, case, model, pitch=None, count=count, steps=steps)
            except Exception as exc:
                print(f"  {solver} failed: {exc}")
                return None
            out[solver] = {
                "particles": report.particles,
                "seconds": report.seconds,
                "iterations": report.steps,
                "converged": bool(report.converged),
                "face_mean_mm": face,
                "max_mm": report.max_displacement_mm,
                "max_von_mises_pa": report.max_von_mises_pa,
                "reaction_n": list(report.reaction_force_n),
                "load_average": _load(),
                "notes": [n for n in report.notes if "balanced to" in n or "equilibrium" in n],
            }
            r = out[solver]
            print(
                f"  {solver:9s} {r['particles']} particles  {r['iterations']:6d} iterations  "
                f"{r['seconds']:6.1f} s  converged {r['converged']}  max |u| {r['max_mm']:.5f} mm  "
                f"max von Mises {r['max_von_mises_pa'] / 1e6:.4f} MPa  reaction "
                f"({', '.join(f'{x:.4f}' for x in r['reaction_n'])}) N  ({r['load_average']})",
                flush=True,
            )
            for note in r["notes"]:
                print(f"    {note}")
    finally:
        relaxation.MULTIGRID_MIN, equilibrium.NEWTON = saved
    adr = out["adr"]
    out["difference"] = {}
    for solver in ("newton", "multigrid"):
        r = out[solver]
        reaction = np.linalg.norm(np.subtract(r["reaction_n"], adr["reaction_n"])) / np.linalg.norm(adr["reaction_n"])
        d = out["difference"][solver] = {
            "max_mm": r["max_mm"] / adr["max_mm"] - 1.0,
            "max_von_mises_pa": r["max_von_mises_pa"] / adr["max_von_mises_pa"] - 1.0,
            "reaction_n": float(reaction),
        }
        print(
            f"  {solver} - ADR: max |u| {100 * d['max_mm']:+.3f} %, max von Mises "
            f"{100 * d['max_von_mises_pa']:+.3f} %, reaction {100 * d['reaction_n']:.3f} %; time ratio ADR / "
            f"{solver} {adr['seconds'] / r['seconds']:.1f}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="bar,bracket", help="comma list of: " + ", ".join(CASES))
    ap.add_argument("--models", default="pmb,lps", help="comma list of force laws (lps skipped if absent)")
    ap.add_argument("--pitches", default="2,1", help="particle pitches, mm (a convergence series)")
    ap.add_argument("--mesh-sizes", default="4,2,1.25", help="FE element sizes, mm, coarse to fine")
    ap.add_argument("--steps", type=int, default=None, help="cap on solver iterations (default: solver's)")
    ap.add_argument("--big-count", type=int, default=BIG_COUNT, help="particles of the timing run")
    ap.add_argument("--no-big", action="store_true", help="skip the 200k-particle timing run")
    ap.add_argument("--big-models", default="pmb,lps", help="comma list of force laws of the timing run")
    ap.add_argument(
        "--compare-count", type=int, default=10000, help="particles of the multigrid vs ADR run (0: skip it)"
    )
    ap.add_argument("--no-fe", action="store_true", help="skip the CalculiX rows")
    ap.add_argument("--progress", action="store_true", help="show the solver's progress bar on stderr")
    ap.add_argument("--json", metavar="PATH", help="also write all figures as JSON")
    args = ap.parse_args(argv)

    cases = [CASES[c.strip()] for c in args.cases.split(",") if c.strip()]
    pitches = [float(p) for p in args.pitches.split(",")]
    sizes = [float(h) for h in args.mesh_sizes.split(",")]
    from physics.laws import LAWS

    models = []
    for m in (m.strip() for m in args.models.split(",") if m.strip()):
        if m in LAWS:
            models.append(m)
        else:
            print(f"model {m!r}: not in physics.laws ({', '.join(sorted(LAWS))}); its rows are skipped")
    base = get_material("PLA")
    fe_ok = not args.no_fe
    if fe_ok and ccx_path() is None:
        print("CalculiX (ccx) not found: FE rows skipped (install: apt-get install calculix-ccx)")
        fe_ok = False

    rows: list[dict] = []
    convergence: list[dict] = []
    big: list[dict | None] = []
    compared: list[dict | None] = []
    t_all = time.perf_counter()
    print("FE  " + FE_HEAD)
    with tempfile.TemporaryDirectory(prefix="bench_stress_") as tmp:
        for case in cases:
            step = write_step(case.shape(), Path(tmp) / f"{case.name}.step")
            for model in models:
                nu = MODEL_NU[model] or base.poisson_ratio
                fe = fe_reference(step, case, base.youngs_modulus, nu, sizes, convergence) if fe_ok else None
                beam = beam_reference(case, base.youngs_modulus, nu)
                if fe is not None and beam is not None:
                    ref = float(fe.face_mean_mm @ load_direction(case))
                    rows.append(
                        row(case.name, "FE", None, None, fe.seconds, "face mean", ref, beam, "Timoshenko")
                    )
                    print("    " + format_row(rows[-1]), flush=True)
                for pitch in pitches:
                    try:
                        report, face, _ = run_ours(
                            step,
                            case,
                            model,
                            pitch=pitch,
                            count=None,
                            steps=args.steps,
                            progress=args.progress,
                        )
                    except Exception as exc:  # one failed run must not hide the others
                        print(f"{case.name} {model} pitch {pitch}: stress_test failed: {exc}", flush=True)
                        continue
                    for r in compare(case, model, report, face, beam, fe):
                        rows.append(r)
                        print("    " + format_row(r), flush=True)
        if not args.no_big:
            step = write_step(CASES["bracket"].shape(), Path(tmp) / "bracket_big.step")
            for model in (m.strip() for m in args.big_models.split(",") if m.strip()):
                if model not in LAWS:
                    continue
                if args.compare_count:
                    compared.append(solver_compare(step, model, args.compare_count, args.steps))
                big.append(big_run(step, model, args.big_count, args.steps, args.progress))
    total = time.perf_counter() - t_all

    print(
        f"\nFE reference mesh convergence (face mean along the load; change vs the previous mesh)\n{FE_HEAD}"
    )
    for c in convergence:
        print(format_fe(c))
    print(f"\nStress pipeline vs references (PASS: within {100 * TOLERANCE:.0f} % and converged)\n{ROW_HEAD}")
    print("-" * len(ROW_HEAD))
    for r in rows:
        print(format_row(r))
    for b in big:
        if b is not None:
            print(
                f"\n{b['particles']} particles ({b['model']}, bracket): equilibrium {b['converged']} in "
                f"{b['seconds']:.1f} s, {b['iterations']} iterations (target {BIG_SECONDS:.0f} s): "
                f"{'PASS' if b['pass'] else 'FAIL'} ({b['load_average']})"
            )
    print(f"\nTotal {total:.0f} s")
    if args.json:
        with atomic_open(args.json, "w") as fh:
            json.dump(
                {
                    "rows": rows,
                    "fe_convergence": convergence,
                    "big": big,
                    "multigrid_vs_adr": compared,
                    "seconds": total,
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
