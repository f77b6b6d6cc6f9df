"""Failure tests against fracture mechanics and strength, timed: fab's failure-test driver (fab/failure.py,
Newton-Krylov load path with bond breaking, physics/newton.py) on specimens with closed-form failure loads.

    .venv/bin/python benchmarks/bench_failure.py                       # every row
    .venv/bin/python benchmarks/bench_failure.py --cases sent,tpb --pitch 0.5
    .venv/bin/python benchmarks/bench_failure.py --cases cantilever40k,part200k   # the speed rows

Rows (each prints its failure load, the reference, the ratio, particles, wall seconds, Newton iterations):
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
  horizon / a = 0.25), B = 0.5 mm. Modelled upside down in its own free body: the load point is the held patch
  (top centre, 1.5 mm wide) and the two supports push up with P/2 each (force loads, so they slide freely:
  fixed supports would add arching). ASTM E399: K = P S / (B W^1.5) f(a/W),
  f(x) = 3 sqrt(x) [1.99 - x (1 - x)(2.15 - 3.93 x + 2.7 x^2)] / [2 (1 + 2x)(1 - x)^1.5]. Target within 15 %.
- ``cantilever40k``: the issue's LPS aluminium cantilever 80 x 10 x 6 mm at 0.5 mm (38,400 particles),
  clamped at x < 0.5, 100 N down at the tip: failure test wall time (target <= 60 s).
- ``part200k``: the same cantilever at 0.28 mm (about 200,000 particles): wall time (target <= 10 minutes).

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
from fab.voxels import VoxelGrid  # noqa: E402

CASES = ["bar", "sent", "tpb", "cantilever40k", "part200k"]


def sent_factor(x: float) -> float:
    return 1.12 - 0.231 * x + 10.55 * x**2 - 21.72 * x**3 + 30.39 * x**4


def senb_factor(x: float) -> float:
    return 3 * math.sqrt(x) * (1.99 - x * (1 - x) * (2.15 - 3.93 * x + 2.7 * x**2)) / (
        2 * (1 + 2 * x) * (1 - x) ** 1.5
    )


def run(occupancy: np.ndarray, pitch: float, material: str, model: str, dimension: int, fixes: list[str],
        loads: list[tuple[str, tuple[float, float, float]]], crack=None, max_factor: float = 1000.0) -> dict:  # fmt: skip
    """fab's failure test on a voxel grid (origin at the first cell's centre = pitch / 2), with an optional
    zero-width pre-crack ``crack`` = ((x0, y0), (x1, y1)) in mm, cut before the test."""
    from physics import Simulation

    start = time.perf_counter()
    grid = VoxelGrid(occupancy, pitch, np.full(3, pitch / 2))
    job = Job(
        part=PartSpec(source=Path("<bench>")),
        voxels=VoxelSpec(pitch=pitch),
        material=get_material(material),
        physics=PhysicsSpec(model=model, dimension=dimension, horizon=DEFAULT_HORIZON),
        fix=tuple(Fix(f) for f in fixes),
        load=tuple(Load(region, "force", vec) for region, vec in loads),
        test=TestSpec(kind="failure", max_factor=max_factor),
    )
    mat = job.material
    fab_model = build_model(grid, job, mat)
    law, _ = make_law(job.physics, mat, dimension, fab_model.body.lattice.horizon)
    load_set = make_conditions(fab_model, job, mat)
    sim = Simulation(fab_model.body, law, load_set.conditions)
    bind_base(load_set)
    if crack is not None:
        (x0, y0), (x1, y1) = crack
        cut_bonds(sim, (x0 * MM, y0 * MM), (x1 * MM, y1 * MM))
    notes: list[str] = []
    with Progress(quiet=False) as progress:
        converged, steps, fields, extra = failure_test(
            sim, fab_model, load_set, job.test, DEFAULT_MAX_STEPS, progress, notes
        )
    seconds = time.perf_counter() - start
    return {"particles": sim.body.count, "seconds": seconds, "failure_n": extra.get("failure_load_n"),
            "steps": steps, "curve": extra.get("curve", []), "notes": notes, "converged": converged}  # fmt: skip


def case_bar(pitch: float) -> tuple[dict, float]:
    n = (round(20 / pitch), round(4 / pitch), round(4 / pitch))
    out = run(np.ones(n, bool), pitch, "Al6061-T6", "lps", 3, ["<X"], [(">X", (1000.0, 0.0, 0.0))])
    mat = get_material("Al6061-T6")
    return out, mat.tensile_strength * 16e-6


def case_sent(pitch: float) -> tuple[dict, float]:
    w, length, a = 20.0, 60.0, 6.0
    occ = np.ones((round(w / pitch), round(length / pitch), 1), bool)
    force = 10.0  # N, service load: below the failure load (about 32 N), so the service solve is elastic
    out = run(
        occ, pitch, "Glass", "lps", 2, ["<Y"], [(">Y", (0.0, force, 0.0))],
        crack=((-pitch, length / 2), (a, length / 2)),
    )  # fmt: skip
    mat = get_material("Glass")
    kc = math.sqrt(mat.youngs_modulus * mat.fracture_energy)
    b = pitch * MM
    ref = kc * (w * MM) * b / (math.sqrt(math.pi * a * MM) * sent_factor(a / w))
    return out, ref


def case_tpb(pitch: float) -> tuple[dict, float]:
    w, span, a = 12.0, 48.0, 6.0
    length = span + 4.0
    occ = np.ones((round(length / pitch), round(w / pitch), 1), bool)
    mid = length / 2
    half = 0.5  # N on each support (1 N in all: below the failure load, about 3.8 N)
    out = run(
        occ, pitch, "Glass", "lps", 2,
        [f">Y:{2 * pitch} and abs(x - {mid}) < 0.75"],
        [(f"<Y and abs(x - {mid - span / 2}) < {pitch}", (0.0, half, 0.0)),
         (f"<Y and abs(x - {mid + span / 2}) < {pitch}", (0.0, half, 0.0))],
        crack=((mid, -pitch), (mid, a)),
    )  # fmt: skip
    mat = get_material("Glass")
    kc = math.sqrt(mat.youngs_modulus * mat.fracture_energy)
    b = pitch * MM
    ref = kc * b * (w * MM) ** 1.5 / ((span * MM) * senb_factor(a / w))
    return out, ref


def case_cantilever(pitch: float) -> tuple[dict, None]:
    n = (round(80 / pitch), round(10 / pitch), round(6 / pitch))
    out = run(np.ones(n, bool), pitch, "Al6061-T6", "lps", 3, ["x < 0.5"], [(">X", (0.0, 0.0, -100.0))])
    return out, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--pitch", type=float, default=0.5, help="pitch (mm) of bar, sent, tpb")
    parser.add_argument("--curve", action="store_true", help="print each row's load-displacement curve")
    args = parser.parse_args()
    rows = []
    for name in [c for c in args.cases.split(",") if c]:
        load_before = os.getloadavg()
        if name == "bar":
            out, ref = case_bar(args.pitch)
        elif name == "sent":
            out, ref = case_sent(args.pitch)
        elif name == "tpb":
            out, ref = case_tpb(args.pitch)
        elif name == "cantilever40k":
            out, ref = case_cantilever(0.5)
        elif name == "part200k":
            out, ref = case_cantilever(0.28)
        else:
            raise SystemExit(f"unknown case {name!r}; cases: {', '.join(CASES)}")
        failure = out["failure_n"]
        ratio = failure / ref if failure and ref else None
        load = tuple(round(x, 2) for x in os.getloadavg())
        rows.append((name, out, failure, ref, ratio, load_before, load))
        print(f"{name}: particles {out['particles']:,}, failure {failure and round(failure, 1)} N, reference "
              f"{ref and round(ref, 1)} N, ratio {ratio and round(ratio, 4)}, {out['seconds']:.1f} s, "
              f"curve points {len(out['curve'])}, load average {load_before[0]:.2f} -> {load[0]:.2f}",
              flush=True)  # fmt: skip
        for note in out["notes"]:
            print(f"    note: {note}")
        if args.curve:
            for p in out["curve"]:
                print(f"    factor {p['factor']:.5g}  w {p['displacement_mm']:.5g} mm  broken "
                      f"{p['broken_bond_fraction']:.3e}{'  PEAK' if p['peak'] else ''}")  # fmt: skip
    print()
    print("| case | particles | failure load (N) | reference (N) | ratio | target | wall s | load average |")
    print("|---|---|---|---|---|---|---|---|")
    targets = {"bar": "within 10 %", "sent": "within 15 %", "tpb": "within 15 %", "cantilever40k": "<= 60 s",
               "part200k": "<= 600 s"}  # fmt: skip
    for name, out, failure, ref, ratio, before, after in rows:
        print(f"| {name} | {out['particles']:,} | {failure and f'{failure:.1f}'} | {ref and f'{ref:.1f}'} | "
              f"{ratio and f'{ratio:.3f}'} | {targets[name]} | {out['seconds']:.1f} | "
              f"{before[0]:.2f} -> {after[0]:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
