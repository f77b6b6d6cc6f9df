"""Failure tests against fracture mechanics and strength, timed: fab's failure-test driver (fab/failure.py,
Newton-Krylov load path with bond breaking, physics/newton.py) on specimens with closed-form failure loads.

    .venv/bin/python benchmarks/bench_failure.py                       # every row
    .venv/bin/python benchmarks/bench_failure.py --cases sent,tpb --pitch 0.5 --energy-release
    .venv/bin/python benchmarks/bench_failure.py --cases cantilever40k,part200k   # the speed rows
    .venv/bin/python benchmarks/bench_failure.py --cases cantilever5k             # the same cantilever at 1 mm

Failure tests run as fab runs them (fab/stress.py: traced in float64 where Newton applies). Rows (each prints its
failure load, the reference, the ratio, particles, wall seconds, Newton iterations):
- ``bar``: an un-notched Al6061-T6 bar 20 x 4 x 4 mm (LPS, 3D), clamped over one end, pulled at the other:
  reference tensile strength x area (310 MPa x 16 mm^2 = 4,960 N); target within 10 %.
- ``sent``: single-edge-notched tension, soda-lime glass (materials library), plane stress (LPS, 2D, 0.5 mm
  thick), W = 20 mm, length 3 W, a zero-width pre-crack a = 6 mm (a/W = 0.3; bonds crossing it cut, horizon /
  a = 0.25) at mid-length. Boundary condition modelled: the bottom end clamped, a uniform traction on the top
  end, which is free to rotate and move sideways, so the part above the crack is statically determinate and
  the cracked section carries the force on the specimen's centre line, 1.5 W from the clamp: the condition of
  Brown & Srawley's factor for uniform tension with free ends, F = 1.12 - 0.231 x + 10.55 x^2 - 21.72 x^3 +
  30.39 x^4 (Tada, Paris & Irwin, The Stress Analysis of Cracks Handbook; H/W >= 1, a/W <= 0.6). (Equal and
  opposite tractions on both ends with a small held patch stalled: the balance test has no load scale for a
  self-equilibrated system, and the patch leaves a soft rotation mode.) Reference
  P = K_c W B / (sqrt(pi a) F), K_c = sqrt(E G0) in plane stress (G0 from the library's K_IC by the
  plane-strain relation, so K_c = K_IC sqrt(1 - nu^2) = 0.975 K_IC). Target within 15 %.
- ``tpb``: three-point bend (SENB), glass, plane stress, W = 12 mm, span S = 4 W = 48 mm, a = 6 mm (a/W = 0.5,
  horizon / a = 0.25), B = 0.5 mm (the 2D model's thickness is one pitch, as for SENT; the same K_c). Modelled in
  its own free body: the loading pin is the held patch (top centre, 1.5 mm wide, two layers) and each support
  pushes up with P/2 on the two bottom particles under it (force loads: a support that cannot pull and lets the
  beam slide, a roller; held supports would add arching). Three forces on a beam are statically determinate, so
  the cracked section carries M = P S / 4 whatever the patches' sizes: measured, a held patch half as wide (two
  columns) gives the same peak to 4 digits, supports spread over 3 mm x 1.5 mm deep 1.6 % higher. ASTM E399:
  K = P S / (B W^1.5) f(a/W), f(x) = 3 sqrt(x) [1.99 - x (1 - x)(2.15 - 3.93 x + 2.7 x^2)] / [2 (1 + 2x)
  (1 - x)^1.5] (f(0.5) = 2.66; Tada's F = f / (1.5 sqrt(pi x)) = 1.42 for S/W = 4). Target within 15 %.
- ``--energy-release`` (sent, tpb): the elastic model's energy release rate against LEFM's over a = 5 .. 7 mm,
  from its compliance (two elastic solves): near 1 when statics, supports and geometry factor agree, so that the
  failure load's ratio measures the fracture criterion alone. Each row also prints its first bond break (the
  pre-crack's tip bond) against the reference, and the model's own energy release rate at its failure load
  over G0, ratio^2 x (G model / LEFM): the fracture criterion alone (1 where a crack runs at G0).
- ``--layers n`` (sent, tpb): the same specimens as 3D slabs n particles thick (LPS 3D, free faces; the
  references and --energy-release at B = n pitches, K_c = sqrt(E G0) as in plane stress).
- ``--horizon`` (spacings, default fab's 3.015): the same rows with another stencil, e.g. ``--pitch 0.4
  --horizon 3.77`` keeps the 1.5 mm horizon of the default rows with 44 bonds a particle instead of 28.
- ``cantilever40k``: the issue's LPS aluminium cantilever 80 x 10 x 6 mm at 0.5 mm (38,400 particles),
  clamped at x < 0.5, 100 N down at the tip: failure test wall time (target <= 60 s).
- ``cantilever5k``: the same cantilever at 1 mm (4,800 particles), clamped at x < 1: wall time and tangent
  products (no target of its own: the size where the failure test's Galerkin coarse level applies).
- ``part200k``: the same cantilever at 0.28 mm (about 200,000 particles): wall time (target <= 10 minutes).
- ``bracket``: ``make demo``'s PLA bracket (samples/bracket_job.toml, 7,008 particles, LPS) with ``[test] kind =
  "failure"``, run by fab.stress.simulate as ``fab simulate`` runs it (float64): wall time and law evaluations
  (no target of its own: the refinement's failure tests are parts like it, and need it well under a minute).
- ``--all-float64``: every law evaluation in float64 (physics/newton.py's MIXED_PRECISION off: the
  preconditioner's products and the settle rounds' steps too), to compare on the same commit.
- ``--plane-count``: the critical stretch of the plane count alone (physics/fracture.py's ``CRACK_RUN`` emptied:
  bonds crossing a lattice plane at s0 hold G0, the crack-run ratio of fab's 2D stencil left out), the
  calibration's baseline on the same commit.
- ``--phases``: each traced row's law evaluations by phase (physics.newton.Trace.phases; "redone" counts, of
  them, those of increments thrown away): where a failure test's cost goes, load-independent.
- ``--secant-jump``: after an increment that broke nothing, the next steps just past the break the largest
  stretch's secant predicts (physics/newton.py's ``LAND_ON_TOP`` off; until 2026-12-07), not just short of the one
  the tangent predicts: to compare on the same commit.
- ``--full-settle``: every settle round and increment solved fully (the load path before the inexact rounds
  of physics/newton.py's ``settle``), to compare failure loads and evaluations on the same commit.

Wall seconds are the failure test's alone (model build, law set-up, multigrid hierarchy, service solve, the
load path, output fields), printed with the load average: the machine is shared.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from validation_tools import cut_bonds  # noqa: E402

from fab.equilibrium import DEFAULT_MAX_STEPS, Progress  # noqa: E402
from fab.failure import failure_test  # noqa: E402
from fab.job import DEFAULT_HORIZON, Fix, Job, Load, PartSpec, PhysicsSpec, TestSpec, VoxelSpec  # noqa: E402
from fab.materials import get_material  # noqa: E402
from fab.model import MM, bind_base, build_model, make_conditions, make_law  # noqa: E402
from fab.stress import failure_in_float64  # noqa: E402
from fab.voxels import VoxelGrid  # noqa: E402

CASES = ["bar", "sent", "tpb", "cantilever5k", "cantilever40k", "part200k", "bracket"]
HORIZON = [DEFAULT_HORIZON]  # lattice spacings (--horizon); fab's default unless asked
LAYERS = [0]  # sent, tpb: 0 = plane stress (2D, B = one pitch); n = a 3D slab n particles thick (--layers)


# Wall-second targets of the speed rows (issue 14): the 40k failure test in a minute, 200k in ten.
SECONDS_TARGETS = {"cantilever40k": 60.0, "part200k": 600.0}

def sent_factor(x: float) -> float:
    return 1.12 - 0.231 * x + 10.55 * x**2 - 21.72 * x**3 + 30.39 * x**4


def senb_factor(x: float) -> float:
    return 3 * math.sqrt(x) * (1.99 - x * (1 - x) * (2.15 - 3.93 * x + 2.7 * x**2)) / (
        2 * (1 + 2 * x) * (1 - x) ** 1.5
    )


def run(occupancy: np.ndarray, pitch: float, material: str, model: str, dimension: int, fixes: list[str],
        loads: list[tuple[str, tuple[float, float, float]]], crack=None, max_factor: float = 1000.0,
        elastic: bool = False) -> dict:  # fmt: skip
    """fab's failure test on a voxel grid (origin at the first cell's centre = pitch / 2), with an optional
    zero-width pre-crack ``crack`` = ((x0, y0), (x1, y1)) in mm, cut before the test. ``elastic``: instead,
    the compliance w / P (m/N) of the cracked part at its service load (unbreakable law, float64, Newton to
    1e-6), w the loads' work-conjugate displacement (the load-weighted mean displacement along the loads)."""
    from physics import Simulation, newton

    start = time.perf_counter()
    grid = VoxelGrid(occupancy, pitch, np.full(3, pitch / 2))
    job = Job(
        part=PartSpec(source=Path("<bench>")),
        voxels=VoxelSpec(pitch=pitch),
        material=get_material(material),
        physics=PhysicsSpec(model=model, dimension=dimension, horizon=HORIZON[0]),
        fix=tuple(Fix(f) for f in fixes),
        load=tuple(Load(region, "force", vec) for region, vec in loads),
        test=TestSpec(kind="failure", max_factor=max_factor),
    )
    mat = job.material
    fab_model = build_model(grid, job, mat)
    law, _ = make_law(job.physics, mat, fab_model.body.lattice)
    if elastic:
        law = law.elastic_copy()
    load_set = make_conditions(fab_model, job, mat)
    sim = Simulation(fab_model.body, law, load_set.conditions)
    if elastic or failure_in_float64(sim):  # the failure test as fab runs it (fab/stress.py run_test)
        sim.set_precision("float64")
    bind_base(load_set)
    if crack is not None:
        (x0, y0), (x1, y1) = crack
        cut_bonds(sim, (x0 * MM, y0 * MM), (x1 * MM, y1 * MM))
    if elastic:
        res = newton.solve(sim, tolerance=1e-6, balance=1e-6)
        if res is None or res["failed"]:
            raise SystemExit("compliance: no elastic equilibrium")
        force = float(np.linalg.norm(load_set.force_n))
        return {"compliance": newton.Pattern(sim).work_displacement(sim.u) / force, "particles": sim.body.count}
    notes: list[str] = []
    with Progress(quiet=False) as progress:
        converged, steps, fields, extra = failure_test(
            sim, fab_model, load_set, job.test, DEFAULT_MAX_STEPS, progress, notes
        )
    seconds = time.perf_counter() - start
    curve = extra.get("curve", [])
    solver = newton._SOLVERS.get(sim)
    path = solver.last_trace if solver is not None else None
    phases = {} if path is None else {"service and Galerkin": steps - path.evaluations, **path.phases}
    return {"particles": sim.body.count, "seconds": seconds, "failure_n": extra.get("failure_load_n"),
            "evaluations32": solver.evaluations32 if solver is not None else 0, "phases": phases,
            "break_passes": path.break_passes if path is not None else 0,
            "first_break_n": first_break(curve), "steps": steps, "curve": curve, "notes": notes, "converged": converged}  # fmt: skip


def evals32(out: dict) -> str:
    """The row's float32 share of its law evaluations (physics.newton's MIXED_PRECISION), where it has one."""
    n = out.get("evaluations32")
    return f" ({n:,} float32)" if n else ""


def first_break(curve: list[dict]) -> float | None:
    """The load (N) of the first bond break on a failure test's curve: the last point before the broken count
    first grows (a pre-crack's bonds count as broken from the start); None when nothing broke."""
    for p, q in zip(curve[:-1], curve[1:], strict=True):
        if q["broken_bond_fraction"] > p["broken_bond_fraction"]:
            return p["load_n"]
    return None


def case_bar(pitch: float) -> tuple[dict, float]:
    n = (round(20 / pitch), round(4 / pitch), round(4 / pitch))
    out = run(np.ones(n, bool), pitch, "Al6061-T6", "lps", 3, ["<X"], [(">X", (1000.0, 0.0, 0.0))])
    mat = get_material("Al6061-T6")
    return out, mat.tensile_strength * 16e-6


def glass_kc() -> float:
    """Plane-stress toughness K_c = sqrt(E G0) (Pa sqrt(m)), G0 from the library's plane-strain K_IC."""
    mat = get_material("Glass")
    return math.sqrt(mat.youngs_modulus * mat.fracture_energy)


SENT_W, SENT_LENGTH = 20.0, 60.0  # mm
TPB_W, TPB_SPAN = 12.0, 48.0  # mm


def sent_reference(a: float, b: float) -> float:
    """Brown & Srawley: the SENT's failure load (N) at crack length a, thickness b (mm)."""
    return glass_kc() * (SENT_W * MM) * b * MM / (math.sqrt(math.pi * a * MM) * sent_factor(a / SENT_W))


def tpb_reference(a: float, b: float) -> float:
    """ASTM E399: the three-point bend's failure load (N) at crack length a, thickness b (mm)."""
    return glass_kc() * b * MM * (TPB_W * MM) ** 1.5 / ((TPB_SPAN * MM) * senb_factor(a / TPB_W))


def slab(pitch: float) -> tuple[int, int, float]:
    """(layers of the occupancy, dimension, thickness B in mm) of the cracked rows: plane stress (one layer, B =
    one pitch) or, with --layers n, a 3D slab n particles thick (B = n pitches; free faces, K_c = sqrt(E G0) as
    in plane stress)."""
    n = LAYERS[0]
    return (n, 3, n * pitch) if n else (1, 2, pitch)


def case_sent(pitch: float, a: float = 6.0, elastic: bool = False) -> tuple[dict, float]:
    w, length = SENT_W, SENT_LENGTH
    layers, dimension, b = slab(pitch)
    occ = np.ones((round(w / pitch), round(length / pitch), layers), bool)
    force = 10.0 * b / pitch  # N, service load: below the failure load (about 32 N a pitch of thickness)
    out = run(
        occ, pitch, "Glass", "lps", dimension, ["<Y"], [(">Y", (0.0, force, 0.0))],
        crack=((-pitch, length / 2), (a, length / 2)), elastic=elastic,
    )  # fmt: skip
    return out, sent_reference(a, b)


def case_tpb(pitch: float, a: float = 6.0, elastic: bool = False) -> tuple[dict, float]:
    w, span = TPB_W, TPB_SPAN
    length = span + 4.0
    layers, dimension, b = slab(pitch)
    occ = np.ones((round(length / pitch), round(w / pitch), layers), bool)
    mid = length / 2
    half = 0.5 * b / pitch  # N on each support (1 N a pitch of thickness: below the failure load, about 3.8 N)
    out = run(
        occ, pitch, "Glass", "lps", dimension,
        [f">Y:{2 * pitch} and abs(x - {mid}) < 0.75"],
        [(f"<Y and abs(x - {mid - span / 2}) < {pitch}", (0.0, half, 0.0)),
         (f"<Y and abs(x - {mid + span / 2}) < {pitch}", (0.0, half, 0.0))],
        crack=((mid, -pitch), (mid, a)), elastic=elastic,
    )  # fmt: skip
    return out, tpb_reference(a, b)


def energy_release(case, reference, pitch: float, a0: float, a1: float) -> tuple[float, float, float]:
    """The cracked model's elastic energy release rate against LEFM's over crack lengths a0 .. a1 (mm): the
    compliance's change C(a1) - C(a0) (two elastic solves) against (2 B / E) int K(a)^2 da at P = 1 N, K(a) per
    newton = K_c / P_ref(a) from the case's reference, E plane stress. Near 1 when the statics, the supports and
    the geometry factor agree with the elastic model; the failure load's ratio then measures the fracture
    criterion alone. Returns (ratio, C(a0), C(a1)), C in m/N."""
    mat = get_material("Glass")
    c0 = case(pitch, a0, elastic=True)[0]["compliance"]
    c1 = case(pitch, a1, elastic=True)[0]["compliance"]
    n = 16  # Simpson's rule over a0 .. a1
    k2 = np.array([(glass_kc() / reference(a, slab(pitch)[2])) ** 2 for a in np.linspace(a0, a1, n + 1)])
    integral = (k2[0] + k2[-1] + 4 * k2[1:-1:2].sum() + 2 * k2[2:-1:2].sum()) * (a1 - a0) * MM / (3 * n)
    lefm = 2 * slab(pitch)[2] * MM / mat.youngs_modulus * integral
    return (c1 - c0) / lefm, c0, c1


def case_cantilever(pitch: float) -> tuple[dict, None]:
    n = (round(80 / pitch), round(10 / pitch), round(6 / pitch))
    out = run(np.ones(n, bool), pitch, "Al6061-T6", "lps", 3, [f"x < {pitch:g}"], [(">X", (0.0, 0.0, -100.0))])
    return out, None


def case_bracket() -> tuple[dict, None]:
    """samples/bracket_job.toml's part, loads and material with a failure test, through fab.stress.simulate."""
    import dataclasses

    from fab.job import load_job
    from fab.stress import simulate

    start = time.perf_counter()
    job = load_job(ROOT / "samples" / "bracket_job.toml")
    job = dataclasses.replace(job, test=TestSpec(kind="failure"),
                              export=dataclasses.replace(job.export, vtk=None, png=None))  # fmt: skip
    report, _part, _grid = simulate(job, quiet=True)
    out = {"particles": report.particles, "seconds": time.perf_counter() - start, "failure_n": report.failure_load_n,
           "first_break_n": first_break(report.curve), "steps": report.steps, "curve": report.curve,
           "notes": report.notes, "converged": report.converged}  # fmt: skip
    return out, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--pitch", type=float, default=0.5, help="pitch (mm) of bar, sent, tpb")
    parser.add_argument("--curve", action="store_true", help="print each row's load-displacement curve")
    parser.add_argument("--horizon", type=float, default=DEFAULT_HORIZON,
                        help=f"horizon in lattice spacings (default fab's, {DEFAULT_HORIZON})")  # fmt: skip
    parser.add_argument("--energy-release", action="store_true",
                        help="sent, tpb: also the elastic model's energy release rate against LEFM's over a = 5 .. 7 mm "
                        "(from its compliance: two elastic solves)")  # fmt: skip
    parser.add_argument("--full-settle", action="store_true",
                        help="solve every settle round and increment of the load path fully (physics.newton's "
                        "INEXACT_SETTLE, DOOMED_ABORT and LOOSE_INCREMENT off): the reference for the inexact rounds")  # fmt: skip
    parser.add_argument("--all-float64", action="store_true",
                        help="every law evaluation of the failure tests in float64 (physics.newton's MIXED_PRECISION off: "
                        "the preconditioner's and settle steps' products too), to compare on the same commit")  # fmt: skip
    parser.add_argument("--drop", type=float, default=None,
                        help="past the peak, end the trace once the load falls below this share of it (physics.newton's "
                        "DROP, 0.9; 0.5 until 2026-12-07), to compare on the same commit")  # fmt: skip
    parser.add_argument("--steps", type=float, default=1.0,
                        help="scale physics.newton's displacement increments (DW_FIRST, DW_MIN, DW_MAX; MAX_INCREMENTS "
                        "by its inverse) by this factor: 0.5, 0.25 for the step-converged failure load")  # fmt: skip
    parser.add_argument("--old-steps", action="store_true",
                        help="physics.newton's displacement increments until 2026-12-07 (DW_FIRST 0.03, DW_MIN 0.005, "
                        "DW_MAX 0.12, MAX_INCREMENTS 80: 8x today's), before --steps, to compare on the same commit")  # fmt: skip
    parser.add_argument("--dw-first", type=float, default=None,
                        help="physics.newton's DW_FIRST (the first displacement increment, a share of w), after --steps")
    parser.add_argument("--dw-max", type=float, default=None,
                        help="physics.newton's DW_MAX (the largest displacement increment, a share of w), after --steps")
    parser.add_argument("--secant-jump", action="store_true",
                        help="after an increment that broke nothing, step just past the next break the largest stretch's "
                        "secant predicts (physics.newton's LAND_ON_TOP off: until 2026-12-07), to compare on the same commit")  # fmt: skip
    parser.add_argument("--plane-count", action="store_true",
                        help="critical stretch of the plane count alone (physics.fracture.CRACK_RUN emptied)")  # fmt: skip
    parser.add_argument("--phases", action="store_true",
                        help="print each traced row's law evaluations by phase (service solve and Galerkin build, "
                        "settle rounds, break checks, closing solves, increment solves, ...; redone: of these, "
                        "in increments thrown away)")  # fmt: skip
    parser.add_argument("--layers", type=int, default=0,
                        help="sent, tpb: a 3D slab this many particles thick instead of plane stress (default 0: 2D)")  # fmt: skip
    args = parser.parse_args()
    if args.full_settle:
        from physics import newton

        newton.INEXACT_SETTLE = newton.DOOMED_ABORT = newton.LOOSE_INCREMENT = False
    if args.all_float64:
        from physics import newton

        newton.MIXED_PRECISION = False
    if args.drop is not None:
        from physics import newton

        newton.DROP = args.drop
    if args.old_steps:
        from physics import newton

        newton.DW_FIRST, newton.DW_MIN, newton.DW_MAX, newton.MAX_INCREMENTS = 0.03, 0.005, 0.12, 80
    if args.steps != 1.0:
        from physics import newton

        newton.DW_FIRST, newton.DW_MIN, newton.DW_MAX = (args.steps * x for x in (newton.DW_FIRST, newton.DW_MIN,
                                                                               newton.DW_MAX))  # fmt: skip
        newton.MAX_INCREMENTS = int(np.ceil(newton.MAX_INCREMENTS / min(args.steps, 1.0)))
    if args.dw_first is not None or args.dw_max is not None:
        from physics import newton

        newton.DW_FIRST = newton.DW_FIRST if args.dw_first is None else args.dw_first
        newton.DW_MAX = newton.DW_MAX if args.dw_max is None else args.dw_max
    if args.secant_jump:
        from physics import newton

        newton.LAND_ON_TOP = False
    if args.plane_count:
        from physics import fracture

        fracture.CRACK_RUN.clear()
    HORIZON[0] = args.horizon
    LAYERS[0] = args.layers
    print(f"horizon {args.horizon:g} spacings ({args.horizon * args.pitch:.3g} mm for bar, sent, tpb; horizon / a "
          f"{args.horizon * args.pitch / 6.0:.3g} for sent, tpb)", flush=True)
    rows = []
    cracked = {"sent": (case_sent, sent_reference), "tpb": (case_tpb, tpb_reference)}
    for name in [c for c in args.cases.split(",") if c]:
        load_before = os.getloadavg()
        if name == "bar":
            out, ref = case_bar(args.pitch)
        elif name in cracked:
            out, ref = cracked[name][0](args.pitch)
        elif name == "cantilever5k":
            out, ref = case_cantilever(1.0)
        elif name == "cantilever40k":
            out, ref = case_cantilever(0.5)
        elif name == "part200k":
            out, ref = case_cantilever(0.28)
        elif name == "bracket":
            out, ref = case_bracket()
        elif name.startswith("cantilever") and name.endswith("mm"):  # e.g. cantilever0.8mm: the cantilever at 0.8 mm
            out, ref = case_cantilever(float(name[len("cantilever"):-2]))
        else:
            raise SystemExit(f"unknown case {name!r}; cases: {', '.join(CASES)}")
        failure, first = out["failure_n"], out["first_break_n"]
        ratio = failure / ref if failure and ref else None
        first_ratio = first / ref if first and ref else None
        load = tuple(round(x, 2) for x in os.getloadavg())
        g_ratio = None
        if args.energy_release and name in cracked:
            g_ratio, c0, c1 = energy_release(*cracked[name], args.pitch, 5.0, 7.0)
            print(f"{name}: compliance {c0 / MM:.5g} mm/N at a = 5 mm, {c1 / MM:.5g} at 7 mm: energy release rate "
                  f"{g_ratio:.4f} x LEFM's (mean over a = 5 .. 7 mm)", flush=True)  # fmt: skip
        rows.append((name, out, failure, ref, ratio, first_ratio, g_ratio, load_before, load))
        print(f"{name}: particles {out['particles']:,}, failure {_cell(failure, '.2f')} N, reference "
              f"{_cell(ref, '.2f')} N, ratio {_cell(ratio, '.4f')}, first bond break at "
              f"{_cell(first_ratio, '.4f')} x the reference, {out['seconds']:.1f} s, "
              f"curve points {len(out['curve'])}, load average {load_before[0]:.2f} -> {load[0]:.2f}",
              flush=True)  # fmt: skip
        for note in out["notes"]:
            print(f"    note: {note}")
        if args.phases and out.get("phases"):
            print("    law evaluations by phase: " + ", ".join(f"{k} {v:,}" for k, v in out["phases"].items())
                  + f"; break-only passes {out.get('break_passes', 0):,} (not evaluations)")  # fmt: skip
        if args.curve:
            for p in out["curve"]:
                print(f"    factor {p['factor']:.5g}  w {p['displacement_mm']:.5g} mm  broken "
                      f"{p['broken_bond_fraction']:.3e}{'  PEAK' if p['peak'] else ''}")  # fmt: skip
    print()
    print("| case | particles | failure load (N) | reference (N) | ratio | target | first break / reference | "
          "G model / LEFM | G at failure / G0 | law evaluations (of them float32) | wall s | load average |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    targets = {"bar": "within 10 %", "sent": "within 15 %", "tpb": "within 15 %", "cantilever5k": "none",
               "cantilever40k": "<= 60 s",
               "part200k": "<= 600 s", "bracket": "none"}  # fmt: skip
    for name, out, failure, ref, ratio, first_ratio, g_ratio, before, after in rows:
        target = targets.get(name, "none")
        if name in SECONDS_TARGETS:  # a speed row says whether it met its target, not only what it was
            target += ": met" if out["seconds"] <= SECONDS_TARGETS[name] else ": NOT met"
        g_failure = ratio**2 * g_ratio if g_ratio and ratio else None
        print(f"| {name} | {out['particles']:,} | {_cell(failure, '.2f')} | {_cell(ref, '.2f')} | "
              f"{_cell(ratio, '.3f')} | {target} | {_cell(first_ratio, '.3f')} | "
              f"{_cell(g_ratio, '.3f')} | {_cell(g_failure, '.3f')} | {out['steps']:,}{evals32(out)} | {out['seconds']:.1f} | "
              f"{before[0]:.2f} -> {after[0]:.2f} |")  # fmt: skip


def _cell(value: float | None, spec: str) -> str:
    """A table cell: the value in ``spec`` or '-' where the case has none (no reference, no break)."""
    return "-" if value is None else format(value, spec)


if __name__ == "__main__":
    main()
