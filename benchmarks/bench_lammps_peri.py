"""LAMMPS examples/peri/in.peri.pmb reproduced with physics/, timed against LAMMPS on the same machine.

Cases (``--cases``, default all): ``peri`` (in.peri.pmb as shipped: 0.5 mm lattice, 3,487 particles, 1,000 steps),
``refined`` (0.25 mm lattice, 26,397 particles, 200 steps), both against LAMMPS on ``--ranks`` MPI ranks in the same
run; ``block16k``, ``block125k`` and ``block512k`` (calibrated PMB with the directional surface correction on 25^3,
50^3 and 80^3 cubes, 160/20/20 steps, no peer): the size series, 33x, printed as time per particle-step. Every
case prints particle-steps/s, its share of the arithmetic roofline (the same bond arithmetic with no neighbour
loads, measured in the same run, compared in bond evaluations/s) and the engine's memory per particle: what it
holds once built (tracemalloc) and the peak over two more steps (Result included).

    .venv/bin/python benchmarks/bench_lammps_peri.py [--json] [--ranks 2] [--cases peri,refined]
    .venv/bin/python benchmarks/bench_lammps_peri.py --no-lammps      # engine only
    .venv/bin/python benchmarks/bench_lammps_peri.py --cases peri --ranks 1 --threads 1   # serial vs serial

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
import tracemalloc
from pathlib import Path

import numba
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


def run_engine(spacing: float, steps: int, ensemble: int = 1) -> dict:
    """Time in.peri.pmb at ``spacing``; with ``ensemble`` > 1 also run copies whose indenter starts a few nm off.

    Dynamic fracture is chaotic: moving the indenter's start by 1e-7 of its height moves the mean damage by
    about +-0.02 (ours and, presumably, LAMMPS's: its rank count changes summation order), so the ensemble's mean is
    the figure to compare with LAMMPS's single run."""
    occ, origin = cylinder_occupancy(spacing)

    def simulation(shift: float = 0.0) -> Simulation:
        # LAMMPS's horizon is given in metres; our stencil is in cells.
        body = Body.from_occupancy(occ, spacing, 2200.0, origin=origin, horizon_cells=HORIZON / spacing)
        law = PMB(micromodulus=C, critical_stretch=S00, variant="lammps", alpha=ALPHA)
        indenter = SphereIndenter(
            center=(0.0, 0.00155 * (1.0 + shift), 0.0),
            radius=0.0015,
            stiffness=1e17,
            velocity=(0.0, -100.0, 0.0),
        )
        return Simulation(body, law, [indenter])

    simulation().run(2, dt=1e-7)  # numba compile / cache load outside the timing
    sim, held = _built(simulation)
    start = time.perf_counter()
    res = sim.run(steps, dt=1e-7, check_every=max(steps, 1))
    seconds = time.perf_counter() - start
    row = _row(sim, steps, seconds, held) | {"mean_damage": res.mean_damage}
    if ensemble > 1:
        shifts = [1e-7, -1e-7, 1e-6, -1e-6, 2e-6, -2e-6, 5e-6][: ensemble - 1]
        damage = [res.mean_damage] + [
            simulation(d).run(steps, dt=1e-7, check_every=steps).mean_damage for d in shifts
        ]
        row["ensemble_mean_damage"] = float(np.mean(damage))
        row["ensemble_damage_std"] = float(np.std(damage))
    return row


def run_block(side: int, steps: int) -> dict:
    """Calibrated PMB (directional surface correction, fracture on) on a side^3 cube, random initial velocities."""

    def simulation() -> Simulation:
        body = Body.from_occupancy(np.ones((side, side, side), dtype=bool), 1e-3, 7850.0)
        sim = Simulation(body, PMB(youngs_modulus=200e9, fracture_energy=1e4))
        sim.v[:] = np.random.default_rng(0).normal(0.0, 0.1, sim.v.shape)
        return sim

    sim, held = _built(simulation)
    sim.run(2)  # compile / cache load
    start = time.perf_counter()
    sim.run(steps, check_every=steps)
    return _row(sim, steps, time.perf_counter() - start, held)


def _built(make) -> tuple[Simulation, int]:
    """Build a simulation under tracemalloc: (simulation, bytes it holds once built)."""
    tracemalloc.start()
    sim = make()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return sim, held


def _row(sim: Simulation, steps: int, seconds: float, held: int) -> dict:
    n = sim.body.count
    tracemalloc.start()
    sim.run(2, check_every=2, dt=sim.dt or None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "particles": n,
        "bonds_per_particle": sim.body.lattice.bonds_per_particle,
        "steps": steps,
        "seconds": seconds,
        "particle_steps_per_s": n * steps / seconds,
        "bond_state_bytes_per_particle": sim.bits.nbytes / n,
        "bytes_per_particle": held / n,
        "run_peak_bytes_per_particle": (held + peak) / n,  # two more steps, Result arrays included
    }


def roofline(particles: int, steps: int) -> float:
    """Particle-steps/s of the same bond arithmetic (122 offsets) with no neighbour gather: the machine's ceiling."""
    body = Body.from_occupancy(np.ones((9, 9, 9), dtype=bool), 1e-3, 7850.0)
    law = PMB(youngs_modulus=200e9)
    law.setup(body)
    force = np.zeros((particles, 3))
    wobble = np.random.default_rng(0).uniform(-1e-6, 1e-6, 1024).astype(np.float32)
    args = (law.xix, law.xiy, law.xiz, law.inv_len, law.length, law.coef, wobble, force)
    pmb_kernels.roofline_forces(particles, *args)
    start = time.perf_counter()
    for _ in range(steps):
        pmb_kernels.roofline_forces(particles, *args)
    return particles * steps / (time.perf_counter() - start)


def run_lammps(spacing: float, steps: int, ranks: int) -> dict | None:
    lmp = next(
        (shutil.which(b) for b in ("lmp", "lmp_openmpi", "lmp_mpich", "lmp_serial") if shutil.which(b)), None
    )
    if lmp is None or not LAMMPS_INPUT.exists():
        return None
    text = LAMMPS_INPUT.read_text()
    text = text.replace("lattice         sc 0.0005", f"lattice         sc {spacing}")
    text = text.replace("volume 1.25e-10", f"volume {spacing**3:.6e}")
    # Finer lattices have more neighbours within horizon + skin than LAMMPS's default list allows (2,000).
    text = text.replace(
        "neighbor        0.0010 bin", "neighbor        0.0010 bin\nneigh_modify    one 20000 page 400000"
    )
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


CASES = {
    "peri": lambda: run_engine(0.0005, 1000, ensemble=5),
    "refined": lambda: run_engine(0.00025, 200),
    "block16k": lambda: run_block(25, 160),
    "block125k": lambda: run_block(50, 20),
    "block512k": lambda: run_block(80, 20),
}
PEERS = {"peri": (0.0005, 1000), "refined": (0.00025, 200)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="numba threads for our engine (default: all)")
    ap.add_argument("--no-lammps", action="store_true")
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    ceiling = roofline(125_000, 20)
    rows = {}
    for case in args.cases.split(","):
        if case not in CASES:
            ap.error(f"unknown case {case!r}; choose from {', '.join(CASES)}")
        row = CASES[case]()
        row["roofline_particle_steps_per_s"] = ceiling
        # In bond evaluations: the refined case has 924 bonds per particle, the roofline 122.
        row["roofline_share"] = row["particle_steps_per_s"] * row["bonds_per_particle"] / (ceiling * 122)
        if case in PEERS and not args.no_lammps:
            peer = run_lammps(*PEERS[case], args.ranks)
            row.update(peer or {"lammps_seconds": None, "lammps_mean_damage": None})
            row["ratio"] = row["lammps_seconds"] / row["seconds"] if row.get("lammps_seconds") else None
        rows[case] = row
        if not args.json:
            print(f"{case}:")
            for key, value in row.items():
                print(f"  {key:32s} {value:.4g}" if isinstance(value, float) else f"  {key:32s} {value}")
    blocks = [rows[c] for c in ("block16k", "block125k", "block512k") if c in rows]
    if len(blocks) > 1:
        # The same problem over a 33x range of sizes: time per particle-step stays flat when cost is linear.
        per = [1e9 / b["particle_steps_per_s"] for b in blocks]
        rows["scaling"] = {
            "particles": [b["particles"] for b in blocks],
            "ns_per_particle_step": per,
            "largest_over_smallest": per[-1] / per[0],
        }
        if not args.json:
            sizes = ", ".join(f"{b['particles']:,}: {t:.1f} ns" for b, t in zip(blocks, per, strict=True))
            print(f"scaling (time per particle-step): {sizes}; largest / smallest {per[-1] / per[0]:.2f}")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
