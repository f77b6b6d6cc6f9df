"""Validation of the voxel-joint law (physics/laws/voxel_joint.py) against closed forms built from the same joint.

    .venv/bin/python benchmarks/validation_joints.py          # every case, prints one table (about 30 s)

Cases (part type PLA-20mm-bolted from fab/part_types.py unless said):
- cantilever: N voxels clamped at one end (the clamp is voxel 0), tip load P, static direct solve; tip deflection
  and rotation against a Timoshenko cantilever of length N a with EI = k_b a and kappa G A = k_s a (a chain of
  joints is that beam exactly, so this checks the assembly, the conditions and the solver). Tolerance 2 %.
- frequency: the same cantilever released from its static deflection, explicit dynamics (velocity Verlet with
  quaternion rotation updates, computed stable step); the first bending frequency from the tip's zero crossings
  against Euler-Bernoulli, omega_1 = 1.8751^2 sqrt(EI / (mu l^4)) with mu = m / a and l = N a (tolerance 5 %, from
  N = 25; N = 10 is shown for the trend), and against the discrete chain's own eigenfrequency (scipy eigh of K and
  M: the time integration alone, 1 %). The chain lumps each voxel's mass at its centre, so the gap to
  Euler-Bernoulli shrinks as 1/N (10 % at N = 10).
- block: an n^3 simple cubic block, bottom layer clamped, a uniform force on the top layer: effective modulus
  (F / A) / (delta / h) against the closed form of its joints, E = k_a / a (columns of joints in series; the
  lateral joints carry nothing in uniform compression).
- root break: the cantilever's load factor at which the first joint breaks (progressive failure, static) against
  the root joint's interaction criterion, P = 1 / (lever / M_u + 1 / V_u) with lever = (N - 1/2) a from the tip
  load to the root joint's face; strength / lever arm M_u / lever printed beside it. Also in explicit dynamics:
  a slowly ramped tip load (damped), the load when the root joint breaks.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.linalg import eigh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fab.part_types import get_part_type  # noqa: E402
from physics import Body, Fixed, Force, Simulation, VoxelJoint  # noqa: E402

PART = "PLA-20mm-bolted"


def part_law(name: str = PART, **changes) -> tuple[VoxelJoint, float, float]:
    """(law, pitch m, density kg/m^3 of the voxel's mass spread over its cube) for a built-in part type."""
    part = get_part_type(name)
    params = part.law_parameters()
    params.update(changes)
    a = part.pitch_mm * 1e-3
    return VoxelJoint(**params, inertia_factor=part.inertia_factor), a, part.mass_kg / a**3


def cantilever(n: int, law: VoxelJoint, a: float, rho: float, load: float) -> tuple[Simulation, Force]:
    """N free voxels along x beyond the clamped voxel 0, a force ``load`` (N, -z) on the tip voxel."""
    body = Body.from_occupancy(np.ones((n + 1, 1, 1), bool), a, rho, horizon_cells=1.0)
    body.point_set("root", lambda x: x[:, 0] < 0.5 * a)
    body.point_set("tip", lambda x: x[:, 0] > (n - 0.5) * a)
    force = Force("tip", (0.0, 0.0, -load))
    return Simulation(body, law, [Fixed("root"), force]), force


def _row(case, quantity, reference, measured, tolerance, **extra) -> dict:
    """One table row; ``tolerance`` None: shown for the trend, not judged."""
    error = measured / reference - 1.0
    ok = None if tolerance is None else abs(error) <= tolerance
    return {"case": case, "quantity": quantity, "reference": reference, "measured": measured, "error": error,
            "tolerance": tolerance, "pass": ok, **extra}  # fmt: skip


def case_cantilever(n: int, load: float = 1.0) -> list[dict]:
    law, a, rho = part_law()
    sim, _ = cantilever(n, law, a, rho, load)
    start = time.perf_counter()
    sim.relax()
    seconds = time.perf_counter() - start
    ei, ga, length = law.bending_stiffness * a, law.shear_stiffness * a, n * a
    deflection = load * length**3 / (3 * ei) + load * length / ga
    rotation = load * length**2 / (2 * ei)
    from physics.laws.voxel_joint_kernels import rotvecs_from_quaternions

    rv = np.zeros((sim.body.count, 3))
    rotvecs_from_quaternions(sim.q, rv)
    return [
        _row(f"cantilever N={n}", "tip deflection (m)", deflection, -sim.u[-1, 2], 0.02, seconds=seconds),
        _row(f"cantilever N={n}", "tip rotation (rad)", rotation, rv[-1, 1], 0.02, seconds=seconds),
    ]


def discrete_frequency(sim: Simulation, law: VoxelJoint) -> float:
    """First bending eigenfrequency (rad/s) of the linear joint model with the held voxels removed."""
    n = sim.body.count
    K = law.stiffness_matrix(n).toarray()
    free = np.repeat(sim.free, 6)
    mass = np.tile([law.mass] * 3 + [law.inertia] * 3, n)
    w2 = eigh(K[np.ix_(free, free)], np.diag(mass[free]), eigvals_only=True, subset_by_index=[0, 1])
    return float(math.sqrt(w2[0]))


def measure_frequency(n: int, periods: float = 2.5) -> tuple[float, float, float, float]:
    """(measured omega, Euler-Bernoulli omega, discrete eigen omega, seconds) of an N-voxel cantilever."""
    law, a, rho = part_law()
    sim, force = cantilever(n, law, a, rho, 1e-3)
    sim.relax()
    sim.conditions.remove(force)  # release
    ei, length = law.bending_stiffness * a, n * a
    omega_eb = 1.8751**2 * math.sqrt(ei / (law.mass / a * length**4))
    omega_d = discrete_frequency(sim, law)
    dt = sim.stable_time_step(0.9)
    chunk = max(1, int((2 * math.pi / omega_d) / dt / 200))  # about 200 samples a period
    samples = int(periods * 2 * math.pi / omega_d / (chunk * dt)) + 1
    start = time.perf_counter()
    z = np.empty(samples)
    for k in range(samples):
        sim.run(chunk, dt)
        z[k] = sim.u[-1, 2]
    seconds = time.perf_counter() - start
    t = (np.arange(samples) + 1) * chunk * dt
    z -= 0.5 * (z.max() + z.min())
    up = np.flatnonzero((z[:-1] < 0) & (z[1:] >= 0))
    crossings = t[up] + (t[up + 1] - t[up]) * (-z[up]) / (z[up + 1] - z[up])
    period = float(np.diff(crossings).mean())
    return 2 * math.pi / period, omega_eb, omega_d, seconds


def case_frequency(n: int, judged: bool = True) -> list[dict]:
    """``judged`` False: the Euler-Bernoulli row shows the trend only (lumped masses are 1/N coarse)."""
    measured, eb, discrete, seconds = measure_frequency(n)
    return [
        _row(f"frequency N={n}", "1st bending vs Euler-Bernoulli (rad/s)", eb, measured, 0.05 if judged else None,
             seconds=seconds),
        _row(f"frequency N={n}", "1st bending vs the chain's eigenvalue", discrete, measured, 0.01, seconds=seconds),
    ]


def case_block(n: int = 4, total: float = 100.0) -> list[dict]:
    law, a, rho = part_law()
    body = Body.from_occupancy(np.ones((n, n, n), bool), a, rho, horizon_cells=1.0)
    body.point_set("bottom", lambda x: x[:, 2] < 0.5 * a)
    body.point_set("top", lambda x: x[:, 2] > (n - 1.5) * a)
    sim = Simulation(body, law, [Fixed("bottom"), Force("top", (0.0, 0.0, -total))])
    start = time.perf_counter()
    sim.relax()
    seconds = time.perf_counter() - start
    top = body.indices("top")
    strain = -sim.u[top, 2].mean() / ((n - 1) * a)
    modulus = total / (n * a) ** 2 / strain
    return [_row(f"block {n}^3", "effective modulus E (Pa)", law.axial_stiffness / a, modulus, 0.02,
                 seconds=seconds)]  # fmt: skip


def root_break_load(n: int, law: VoxelJoint, a: float) -> float:
    lever = (n - 0.5) * a
    return 1.0 / (lever / law.bending_strength + 1.0 / law.shear_strength)


def case_root_break(n: int) -> list[dict]:
    law, a, rho = part_law()
    sim, _ = cantilever(n, law, a, rho, 1.0)
    start = time.perf_counter()
    info = law.failure(sim)
    seconds = time.perf_counter() - start
    first = law.ji[info["events"][0][1]]
    row = _row(f"root break N={n}", "first-break tip load (N)", root_break_load(n, law, a), info["first_break"],
               0.01, seconds=seconds)  # fmt: skip
    row["note"] = (f"strength/lever M_u/((N-1/2)a) = {law.bending_strength / ((n - 0.5) * a):.4g} N; "
                   f"first joint to break: voxel {first}-{first + 1}; failure factor {info['failure_factor']:.4g}")  # fmt: skip
    return [row]


def case_dynamic_break(n: int = 5, ramp_periods: float = 40.0) -> list[dict]:
    """Explicit dynamics with a tip load ramped linearly from 0, damped: the load when the root joint breaks."""
    law, a, rho = part_law()
    expected = root_break_load(n, law, a)
    sim, force = cantilever(n, law, a, rho, 2.0 * expected)
    omega = discrete_frequency(sim, law)
    ramp = ramp_periods * 2 * math.pi / omega
    sim.conditions.remove(force)
    dt = sim.stable_time_step(0.9)
    sim.damping = min(0.05, 2 * 0.3 * omega * dt)  # about 30 % of critical on the first mode
    tip = sim.body.indices("tip")
    density = np.array([0.0, 0.0, -1.0]) / (len(tip) * sim.body.particle_volume)
    start = time.perf_counter()
    step = 0
    load = 0.0
    while law.intact[0] and step * dt < 2 * ramp:
        sim.run(10, dt)
        step += 10
        load = 2.0 * expected * min(1.0, step * dt / ramp)
        # the ramp is applied between chunks: a Force condition with the current value
        sim.conditions = [c for c in sim.conditions if not isinstance(c, Force)]
        sim.conditions.append(Force(tip, tuple(density * load * len(tip) * sim.body.particle_volume)))
        sim.conditions[-1].bind(sim)
    seconds = time.perf_counter() - start
    return [_row(f"dynamic break N={n}", "tip load at the root break (N)", expected, load, 0.05,
                 seconds=seconds)]  # fmt: skip


def run_all(quick: bool = False) -> list[dict]:
    rows: list[dict] = []
    for n in (5, 10, 20, 50) if not quick else (5,):
        rows += case_cantilever(n)
    if not quick:
        rows += case_frequency(10, judged=False)
    for n in (25, 50) if not quick else (25,):
        rows += case_frequency(n)
    rows += case_block()
    for n in (5, 10, 20) if not quick else (5,):
        rows += case_root_break(n)
    rows += case_dynamic_break()
    return rows


def print_table(rows: list[dict]) -> None:
    print("| case | quantity | reference | measured | error | tolerance | pass | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['quantity']} | {r['reference']:.5g} | {r['measured']:.5g} | "
              f"{100 * r['error']:+.3f} % | {_judged(r)} | "
              f"{r.get('seconds', 0):.2f} |")  # fmt: skip
    for r in rows:
        if "note" in r:
            print(f"{r['case']}: {r['note']}")


def _judged(row: dict) -> str:
    if row["tolerance"] is None:
        return "- | trend"
    return f"{100 * row['tolerance']:.0f} % | {'pass' if row['pass'] else 'FAIL'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one size per case")
    args = parser.parse_args(argv)
    law, a, rho = part_law()
    print(f"part type {PART}: pitch {a * 1e3:g} mm, mass {law_mass(a, rho) * 1e3:.4g} g, "
          f"k_a {law.axial_stiffness:.4g} N/m, k_s {law.shear_stiffness:.4g} N/m, k_b {law.bending_stiffness:.4g} "
          f"N m/rad, k_t {law.torsion_stiffness:.4g} N m/rad; strengths N_u {law.tensile_strength:.4g} N, "
          f"V_u {law.shear_strength:.4g} N, M_u {law.bending_strength:.4g} N m, T_u {law.torsion_strength:.4g} N m")  # fmt: skip
    start = time.perf_counter()
    rows = run_all(args.quick)
    print_table(rows)
    judged = [r for r in rows if r["pass"] is not None]
    passed = sum(r["pass"] for r in judged)
    print(f"{passed}/{len(judged)} pass, {time.perf_counter() - start:.1f} s")
    return 0 if passed == len(judged) else 1


def law_mass(a: float, rho: float) -> float:
    return rho * a**3


if __name__ == "__main__":
    raise SystemExit(main())
