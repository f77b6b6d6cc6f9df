"""LAMMPS examples/peri/in.peri.pmb reproduced with physics/, timed against LAMMPS on the same machine.

Prints a table (or one JSON object with ``--json``): particles, bonds, steps, seconds, mean_damage,
lammps_seconds, lammps_mean_damage, ratio (LAMMPS time / ours), particle-steps/s, bond memory per particle.

    .venv/bin/python benchmarks/bench_lammps_peri.py [--json] [--ranks 2] [--spacing 0.0005 --steps 1000]
    .venv/bin/python benchmarks/bench_lammps_peri.py --no-lammps      # engine only

The problem (LAMMPS input, SI): sc lattice 0.5 mm filling a cylinder about y (r = 5 mm, -5 mm <= y <= 0),
density 2200, PMB c = 1.6863e22, horizon 0.0015001 m, s00 = 0.0005, alpha = 0.25, spherical indenter
K = 1e17 of radius 1.5 mm starting at y = 1.55 mm and moving at -100 m/s, dt = 1e-7 s, 1,000 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physics import PMB, Body, Simulation, SphereIndenter  # noqa: E402
from physics.laws import pmb_kernels  # noqa: E402

LAMMPS_INPUT = Path("/usr/share/lammps/examples/peri/in.peri.pmb")
C, HORIZON, S00, ALPHA = 1.6863e22, 0.0015001, 0.0005, 0.25


def cylinder_occupancy(spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice points k*spacing inside the closed cylinder x^2 + z^2 <= 5 mm^2, -5 mm <= y <= 0 (as LAMMPS)."""
    r, h = 0.005, 0.005
    n = int(round(r / spacing))
    ny = int(round(h / spacing))
    i = np.arange(-n, n + 1)
    x = i[:, None, None] * spacing
    z = i[None, None, :] * spacing
    occ = np.broadcast_to(x * x + z * z <= r * r * (1 + 1e-9), (2 * n + 1, ny + 1, 2 * n + 1)).copy()
    origin = np.array([-n * spacing, -ny * spacing, -n * spacing])
    return occ, origin


def run_engine(spacing: float, steps: int) -> dict:
    occ, origin = cylinder_occupancy(spacing)
    # LAMMPS's horizon is given in metres; our stencil is in cells.
    body = Body.from_occupancy(occ, spacing, 2200.0, origin=origin, horizon_cells=HORIZON / spacing)

    def simulation() -> Simulation:
        law = PMB(micromodulus=C, critical_stretch=S00, variant="lammps", alpha=ALPHA)
        indenter = SphereIndenter(
            center=(0.0, 0.00155, 0.0), radius=0.0015, stiffness=1e17, velocity=(0.0, -100.0, 0.0)
        )
        return Simulation(body, law, [indenter])

    simulation().run(2, dt=1e-7)  # numba compile / cache load outside the timing
    sim = simulation()
    start = time.perf_counter()
    res = sim.run(steps, dt=1e-7, check_every=max(steps, 1))
    seconds = time.perf_counter() - start
    return {
        "particles": body.count,
        "bonds": res.bonds,
        "bonds_per_particle": body.lattice.bonds_per_particle,
        "steps": steps,
        "seconds": seconds,
        "mean_damage": res.mean_damage,
        "particle_steps_per_s": body.count * steps / seconds,
        "bond_state_bytes_per_particle": sim.bits.nbytes / body.count,
        "engine_bytes_per_particle": engine_bytes(sim) / body.count,
        "roofline_particle_steps_per_s": roofline(body.count, min(steps, 200), sim.law),
    }


def engine_bytes(sim: Simulation) -> int:
    """Memory the engine holds for a run: per-particle arrays, padded grids and bond masks (bytes)."""
    arrays = [v for v in vars(sim).values() if isinstance(v, np.ndarray)]
    arrays += [v for v in vars(sim.law).values() if isinstance(v, np.ndarray)]
    lat = sim.body.lattice
    arrays += [lat.cells, lat.ijk, lat.cell_to_particle]
    return int(sum(a.nbytes for a in arrays))


def roofline(particles: int, steps: int, law: PMB) -> float:
    """Particle-steps/s of the same bond arithmetic with no neighbour gather (the machine's ceiling)."""
    force = np.zeros((particles, 3))
    wobble = np.random.default_rng(0).uniform(-1e-6, 1e-6, 1024).astype(np.float32)
    args = (law.xix, law.xiy, law.xiz, law.inv_len, law.length, law.coef, wobble, force)
    pmb_kernels.roofline_forces(particles, *args)
    start = time.perf_counter()
    for _ in range(steps):
        pmb_kernels.roofline_forces(particles, *args)
    return particles * steps / (time.perf_counter() - start)


def scaling(steps: int) -> list[dict]:
    """Time per particle-step of the calibrated PMB (directional surface correction) on cubes spanning 30x."""
    rows = []
    for n in (16, 32, 50):
        body = Body.from_occupancy(np.ones((n, n, n), dtype=bool), 1e-3, 7850.0)
        sim = Simulation(body, PMB(youngs_modulus=200e9, fracture_energy=1e4))
        sim.v[:] = np.random.default_rng(0).normal(0.0, 0.1, sim.v.shape)
        sim.run(2)
        start = time.perf_counter()
        sim.run(steps, check_every=steps)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "particles": body.count,
                "ns_per_particle_step": 1e9 * seconds / (body.count * steps),
                "particle_steps_per_s": body.count * steps / seconds,
                "bytes_per_particle": engine_bytes(sim) / body.count,
            }
        )
    return rows


def run_lammps(spacing: float, steps: int, ranks: int) -> dict | None:
    lmp = next(
        (shutil.which(b) for b in ("lmp", "lmp_openmpi", "lmp_mpich", "lmp_serial") if shutil.which(b)), None
    )
    if lmp is None or not LAMMPS_INPUT.exists():
        return None
    text = LAMMPS_INPUT.read_text()
    text = text.replace("lattice         sc 0.0005", f"lattice         sc {spacing}")
    text = text.replace("volume 1.25e-10", f"volume {spacing**3:.6e}")
    text = re.sub(
        r"^run\s+\d+",
        f"compute 2 all reduce ave c_1\nthermo_style custom step atoms c_2\nthermo {steps}\nrun {steps}",
        text,
        flags=re.M,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "in.peri")
        path.write_text(text)
        cmd = [lmp, "-in", str(path), "-log", "none"]
        if ranks > 1 and shutil.which("mpirun"):
            cmd = ["mpirun", "--allow-run-as-root", "-np", str(ranks), *cmd]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env, check=False).stdout
    loop = re.search(r"Loop time of ([0-9.eE+-]+)", out)
    rows = re.findall(rf"^\s*{steps}\s+(\d+)\s+([0-9.eE+-]+)\s*$", out, flags=re.M)
    if loop is None or not rows:
        return None
    return {
        "lammps_seconds": float(loop.group(1)),
        "lammps_mean_damage": float(rows[-1][1]),
        "lammps_particles": int(rows[-1][0]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--spacing", type=float, default=0.0005)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--no-lammps", action="store_true")
    ap.add_argument("--scaling", action="store_true", help="also time 3 cube sizes spanning 30x (20 steps)")
    args = ap.parse_args()
    row = run_engine(args.spacing, args.steps)
    peer = None if args.no_lammps else run_lammps(args.spacing, args.steps, args.ranks)
    row.update(peer or {"lammps_seconds": None, "lammps_mean_damage": None})
    row["ratio"] = row["lammps_seconds"] / row["seconds"] if row["lammps_seconds"] else None
    row["roofline_share"] = row["particle_steps_per_s"] / row["roofline_particle_steps_per_s"]
    if args.scaling:
        row["scaling"] = scaling(20)
    if args.json:
        print(json.dumps(row))
        return
    for key, value in row.items():
        if key == "scaling":
            print("scaling (calibrated PMB, 20 steps):")
            for r in value:
                print("  " + "  ".join(f"{k} {v:.4g}" for k, v in r.items()))
            continue
        print(f"{key:32s} {value:.4g}" if isinstance(value, float) else f"{key:32s} {value}")


if __name__ == "__main__":
    main()
