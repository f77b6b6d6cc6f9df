"""LAMMPS examples/peri/in.peri.pmb reproduced with physics/, timed against LAMMPS on the same machine.

Cases (``--cases``, default all): ``peri`` (in.peri.pmb as shipped: 0.5 mm lattice, 3,487 particles, 1,000 steps)
and ``refined`` (0.25 mm lattice, 26,397 particles, 100 steps), each against LAMMPS in the same run;
``block16k``, ``block125k`` and ``block512k`` (calibrated PMB with the directional surface correction on 25^3,
50^3 and 80^3 cubes, 160/20/20 steps): the size series, printed as time per particle-step. The blocks have no
LAMMPS counterpart (LAMMPS has no surface-corrected PMB), so they claim no ratio.

How the two sides are timed (the same work where it can be, said plainly where it cannot):

- both: the best of ``--repeat`` (3) runs, after a warm-up (numba compile / LAMMPS start-up are outside our
  timing; LAMMPS's own "Loop time" excludes its set-up);
- LAMMPS at its best on this machine: 1 and 2 MPI ranks, its neighbour skin tuned per lattice (the fastest of
  0.5, 1, 2 and 4 spacings on a short run). Debian's build has no OPENMP package (``lmp -h``), so no
  ``peri/pmb/omp`` style; ours runs 2 numba threads (and 1, for the serial pair);
- precision: our bond kernels compute in float32 by default (displacements and velocities in float64), LAMMPS in
  double; every case with a LAMMPS run also runs our float64 path (``Simulation(precision="float64")``, the
  same kernels compiled for double) against the same LAMMPS runs, so the "float64" ratio compares the same
  precision (``--no-float64`` skips it);
- contact scope differs and is measured: ours applies LAMMPS's short-range force to every pair of the reference
  stencil (bonded or broken); LAMMPS to every pair of its neighbour list, which also holds pairs that were
  not neighbours at the start. The run counts, at its end, the non-stencil pairs closer than LAMMPS's contact
  distance (1.35 spacings): the pairs whose force only LAMMPS would add.

Bounds instead of a roofline: the machine's memory bandwidth, measured here by a STREAM-style triad (numba,
all threads), divided by the bytes a step must move per particle (the arrays it reads and writes, counted from
their sizes), and its float32 arithmetic rate, measured by independent FMA chains, divided by the
floating-point operations per particle-step (about 35 per bond, 42 with contact, counted from the kernel).
Each case prints both as particle-steps/s and its share of the lower one.

    .venv/bin/python benchmarks/bench_lammps_peri.py [--json] [--cases peri,refined] [--repeat 3]
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
import tracemalloc
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physics import PMB, Body, Simulation, SphereIndenter  # noqa: E402

LAMMPS_INPUT = Path("/usr/share/lammps/examples/peri/in.peri.pmb")
C, HORIZON, S00, ALPHA = 1.6863e22, 0.0015001, 0.0005, 0.25
SKINS = (0.5, 1.0, 2.0, 4.0)  # LAMMPS neighbour skins tried, in lattice spacings
FLOPS_PER_BOND = 35  # _plain_run's arithmetic per bond (sqrt and divide one each), without contact
FLOPS_PER_CONTACT = 7


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


def _indentation(spacing: float, shift: float = 0.0, precision: str | None = None) -> Simulation:
    occ, origin = cylinder_occupancy(spacing)
    # LAMMPS's horizon is given in metres; our stencil is in cells.
    body = Body.from_occupancy(occ, spacing, 2200.0, origin=origin, horizon_cells=HORIZON / spacing)
    law = PMB(micromodulus=C, critical_stretch=S00, variant="lammps", alpha=ALPHA)
    indenter = SphereIndenter(
        center=(0.0, 0.00155 * (1.0 + shift), 0.0), radius=0.0015, stiffness=1e17, velocity=(0.0, -100.0, 0.0)
    )
    return Simulation(body, law, [indenter], precision=precision)


def _best_of(make, steps: int, repeat: int, threads: int, **run) -> tuple[float, Simulation, object]:
    """Best wall time of ``repeat`` fresh runs on ``threads`` numba threads: (seconds, last sim, last result)."""
    numba.set_num_threads(threads)
    best, sim, res = float("inf"), None, None
    for _ in range(repeat):
        sim = make()
        start = time.perf_counter()
        res = sim.run(steps, check_every=max(steps, 1), **run)
        best = min(best, time.perf_counter() - start)
    return best, sim, res


def run_engine(
    spacing: float, steps: int, repeat: int, threads: int, ensemble: int = 1, precision: str = "float32"
) -> dict:
    """Time in.peri.pmb at ``spacing`` (best of ``repeat``, on ``threads`` and on 1 thread); with ``ensemble`` > 1
    also run copies whose indenter starts a few nm off.

    Dynamic fracture is chaotic: moving the indenter's start by 1e-7 of its height moves the mean damage by
    about +-0.02 (ours and, presumably, LAMMPS's: its rank count changes summation order), so the ensemble's mean is
    the figure to compare with LAMMPS's single run. ``precision``: the bond kernels' float type."""

    def make(shift: float = 0.0) -> Simulation:
        return _indentation(spacing, shift, precision)

    make().run(2, dt=1e-7)  # numba compile / cache load outside the timing
    sim, held = _built(make)
    seconds, sim, res = _best_of(make, steps, repeat, threads, dt=1e-7)
    serial, _, _ = _best_of(make, steps, repeat, 1, dt=1e-7)
    numba.set_num_threads(threads)
    row = _row(sim, steps, seconds, held) | {
        "precision": precision,
        "threads": threads,
        "seconds_1_thread": serial,
        "mean_damage": res.mean_damage,
        "contact_pairs_only_lammps_sees": _outside_stencil_pairs(sim, 1.35),
    }
    if ensemble > 1:
        shifts = [1e-7, -1e-7, 1e-6, -1e-6, 2e-6, -2e-6, 5e-6][: ensemble - 1]
        damage = [res.mean_damage] + [
            make(d).run(steps, dt=1e-7, check_every=steps).mean_damage for d in shifts
        ]
        row["ensemble_mean_damage"] = float(np.mean(damage))
        row["ensemble_damage_std"] = float(np.std(damage))
    return row


def _outside_stencil_pairs(sim: Simulation, distance: float) -> int:
    """Pairs closer than ``distance`` spacings in the deformed body that are not reference-stencil neighbours."""
    from scipy.spatial import cKDTree

    lat = sim.body.lattice
    n = sim.body.count
    x = sim.body.positions() + sim.u
    pairs = cKDTree(x).query_pairs(distance * lat.spacing, output_type="ndarray")
    nbr = lat.neighbours()
    rows, cols = np.nonzero(nbr >= 0)
    stencil = rows.astype(np.int64) * n + nbr[rows, cols]
    keys = pairs[:, 0].astype(np.int64) * n + pairs[:, 1]
    return int((~np.isin(keys, stencil)).sum())  # the stencil is symmetric: (i, j) in it iff (j, i) is


def run_block(side: int, steps: int, repeat: int, threads: int) -> dict:
    """Calibrated PMB (directional surface correction, fracture on) on a side^3 cube, random initial velocities."""

    def simulation() -> Simulation:
        body = Body.from_occupancy(np.ones((side, side, side), dtype=bool), 1e-3, 7850.0)
        sim = Simulation(body, PMB(youngs_modulus=200e9, fracture_energy=1e4))
        sim.v[:] = np.random.default_rng(0).normal(0.0, 0.1, sim.v.shape)
        return sim

    sim, held = _built(simulation)
    sim.run(2)  # compile / cache load
    seconds, sim, _ = _best_of(simulation, steps, repeat, threads)
    return _row(sim, steps, seconds, held) | {"threads": threads}


def _built(make) -> tuple[Simulation, int]:
    """Build a simulation under tracemalloc: (simulation, bytes it holds once built)."""
    tracemalloc.start()
    sim = make()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return sim, held


def _step_bytes(sim: Simulation) -> float:
    """Bytes a time step must move per particle: the force kernel reads the displacement grids (float32, or
    float64 on the float64 path) and the bond bits and writes the float64 force and the broken-bond count (plus
    the per-particle limits and least stretch of LAMMPS's alpha rule, or the three surface factors of the
    directional law); Verlet reads the force and reads and writes u and v (float64) and writes the grids.
    Neighbours' values come from cache."""
    law = sim.law
    n = sim.body.count
    g = sim.ux.itemsize
    per = 3 * g + sim.bits.nbytes / n + 24 + 4 + 3 * 24 + 2 * 24 + 3 * g
    if getattr(law, "variant", "") == "lammps" and getattr(law, "alpha", 0.0):
        per += 2 * g
    if getattr(law, "surface_correction", False):
        per += 3 * g
    return per


def _row(sim: Simulation, steps: int, seconds: float, held: int) -> dict:
    n = sim.body.count
    tracemalloc.start()
    sim.run(2, check_every=2, dt=sim.dt or None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    contact = bool(getattr(sim.law, "contact", False))
    return {
        "particles": n,
        "bonds_per_particle": sim.body.lattice.bonds_per_particle,
        "steps": steps,
        "seconds": seconds,
        "particle_steps_per_s": n * steps / seconds,
        "bytes_per_particle_step": _step_bytes(sim),
        "flops_per_particle_step": sim.body.lattice.bonds_per_particle
        * (FLOPS_PER_BOND + (FLOPS_PER_CONTACT if contact else 0)),
        "bond_state_bytes_per_particle": sim.bits.nbytes / n,
        "bytes_per_particle": held / n,
        "run_peak_bytes_per_particle": (held + peak) / n,  # two more steps, Result arrays included
    }


@numba.njit(parallel=True, cache=True)
def _triad(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> None:
    for i in numba.prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


@numba.njit(parallel=True, cache=True, fastmath=True)
def _fma_chains(out: np.ndarray, iterations: int) -> None:
    """64 independent float32 multiply-add chains per task (vectorized, latency hidden): 128 flops a round."""
    for t in numba.prange(out.shape[0]):
        acc = np.empty(64, dtype=np.float32)
        for k in range(64):
            acc[k] = np.float32(k) * np.float32(1e-3)
        m = np.float32(0.999999)
        c = np.float32(1e-7)
        for _ in range(iterations):
            for k in range(64):
                acc[k] = acc[k] * m + c
        out[t] = acc.sum()


def hardware_bounds(repeat: int = 5) -> dict:
    """Measured memory bandwidth (GB/s, triad over 3 x 128 MB, counting 24 bytes an element: no write-allocate)
    and float32 arithmetic rate (GFLOP/s), best of ``repeat``."""
    n = 16_000_000
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    _triad(a, b, c, 3.0)
    bw = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        _triad(a, b, c, 3.0)
        bw = max(bw, 24 * n / (time.perf_counter() - t0) / 1e9)
    tasks, iterations = 4 * numba.get_num_threads(), 200_000
    out = np.zeros(tasks, dtype=np.float32)
    _fma_chains(out, 10)
    flops = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        _fma_chains(out, iterations)
        flops = max(flops, 128.0 * iterations * tasks / (time.perf_counter() - t0) / 1e9)
    return {"memory_gb_per_s": bw, "float32_gflop_per_s": flops, "threads": numba.get_num_threads()}


def _lammps_exe() -> str | None:
    return next((shutil.which(b) for b in ("lmp", "lmp_openmpi", "lmp_mpich", "lmp_serial") if shutil.which(b)), None)


def run_lammps(spacing: float, steps: int, ranks: int, skin: float) -> dict | None:
    """One LAMMPS run of in.peri.pmb at ``spacing`` with a neighbour skin of ``skin`` m: its loop time, damage."""
    lmp = _lammps_exe()
    if lmp is None or not LAMMPS_INPUT.exists():
        return None
    text = LAMMPS_INPUT.read_text()
    text = text.replace("lattice         sc 0.0005", f"lattice         sc {spacing}")
    text = text.replace("volume 1.25e-10", f"volume {spacing**3:.6e}")
    # Finer lattices have more neighbours within horizon + skin than LAMMPS's default list allows (2,000).
    text = text.replace(
        "neighbor        0.0010 bin", f"neighbor        {skin:.6g} bin\nneigh_modify    one 20000 page 400000"
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
        if ranks > 1:
            if not shutil.which("mpirun"):
                return None
            cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), *cmd]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env, check=False).stdout
    loop = re.search(r"Loop time of ([0-9.eE+-]+)", out)
    rows = re.findall(rf"^\s*{steps}\s+(\d+)\s+([0-9.eE+-]+)\s*$", out, flags=re.M)
    if loop is None or not rows:
        return None
    return {"seconds": float(loop.group(1)), "mean_damage": float(rows[-1][1]), "particles": int(rows[-1][0])}


def lammps_best(spacing: float, steps: int, repeat: int) -> dict | None:
    """LAMMPS at its best: the skin tuned on a short 1-rank run, then the best of ``repeat`` on 1 and 2 ranks."""
    short = max(steps // 5, 20)
    tried = {}
    for k in SKINS:
        run = run_lammps(spacing, short, 1, k * spacing)
        if run is not None:
            tried[k] = run["seconds"]
    if not tried:
        return None
    skin = min(tried, key=tried.get)
    out: dict = {"skin_spacings": skin, "skin_trials_s": tried}
    for ranks in (1, 2):
        runs = [r for r in (run_lammps(spacing, steps, ranks, skin * spacing) for _ in range(repeat)) if r]
        if not runs:
            out[f"seconds_{ranks}_rank"] = None
            continue
        best = min(runs, key=lambda r: r["seconds"])
        out[f"seconds_{ranks}_rank"] = best["seconds"]
        out[f"mean_damage_{ranks}_rank"] = best["mean_damage"]
        out["particles"] = best["particles"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cases", default="peri,refined,block16k,block125k,block512k")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="numba threads for our engine (default: all)")
    ap.add_argument("--no-lammps", action="store_true")
    ap.add_argument("--no-float64", action="store_true", help="skip our float64 runs of the LAMMPS cases")
    args = ap.parse_args()
    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(threads)
    cases = {
        "peri": lambda: run_engine(0.0005, 1000, args.repeat, threads, ensemble=5),
        "refined": lambda: run_engine(0.00025, 100, args.repeat, threads),
        "block16k": lambda: run_block(25, 160, args.repeat, threads),
        "block125k": lambda: run_block(50, 20, args.repeat, threads),
        "block512k": lambda: run_block(80, 20, args.repeat, threads),
    }
    peers = {"peri": (0.0005, 1000), "refined": (0.00025, 100)}
    bounds = hardware_bounds()
    rows: dict = {"hardware": bounds}
    if not args.json:
        print(
            f"hardware ({bounds['threads']} threads): memory {bounds['memory_gb_per_s']:.1f} GB/s (triad), "
            f"float32 {bounds['float32_gflop_per_s']:.1f} GFLOP/s (FMA chains)"
        )
    for case in args.cases.split(","):
        if case not in cases:
            ap.error(f"unknown case {case!r}; choose from {', '.join(cases)}")
        row = cases[case]()
        mem = bounds["memory_gb_per_s"] * 1e9 / row["bytes_per_particle_step"]
        flop = bounds["float32_gflop_per_s"] * 1e9 / row["flops_per_particle_step"]
        row["memory_bound_particle_steps_per_s"] = mem
        row["flop_bound_particle_steps_per_s"] = flop
        row["share_of_bound"] = row["particle_steps_per_s"] / min(mem, flop)
        if case in peers and not args.no_float64:
            # The same case on our float64 path (same precision as LAMMPS), against the same LAMMPS runs.
            row["float64"] = run_engine(*peers[case], args.repeat, threads, 5 if case == "peri" else 1, "float64")
        if case in peers and not args.no_lammps:
            peer = lammps_best(*peers[case], args.repeat)
            row["lammps"] = peer
            if peer:
                times = [peer.get("seconds_1_rank"), peer.get("seconds_2_rank")]
                best = min(t for t in times if t is not None) if any(times) else None
                s1 = peer.get("seconds_1_rank")
                for ours in (row, row.get("float64")):
                    if ours is None:
                        continue
                    ours["ratio_best_vs_best"] = best / ours["seconds"] if best else None
                    ours["ratio_1_rank_vs_1_thread"] = s1 / ours["seconds_1_thread"] if s1 else None
        rows[case] = row
        if not args.json:
            _print_case(case, row)
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


def _print_case(case: str, row: dict) -> None:
    def g(v, fmt=".4g"):
        return "n/a" if v is None else format(v, fmt)

    print(f"{case}: {row['particles']:,} particles, {row['bonds_per_particle']} bonds, {row['steps']} steps")
    print(
        f"  ours (float32 bonds, {row['threads']} threads, best of runs)   {g(row['seconds'])} s  "
        f"{row['particle_steps_per_s'] / 1e6:.2f} M particle-steps/s  (1 thread: {g(row.get('seconds_1_thread'))} s)"
    )
    double = row.get("float64")
    if double is not None:
        ens = (
            f", damage {double['mean_damage']:.4g} (ensemble {double['ensemble_mean_damage']:.3f} +- "
            f"{double['ensemble_damage_std']:.3f})"
            if "ensemble_mean_damage" in double
            else f", damage {double['mean_damage']:.4g}"
        )
        print(
            f"  ours (float64 bonds, {double['threads']} threads, best of runs)   {g(double['seconds'])} s  "
            f"{double['particle_steps_per_s'] / 1e6:.2f} M particle-steps/s  "
            f"(1 thread: {g(double.get('seconds_1_thread'))} s){ens}"
        )
    print(
        f"  bounds: memory {row['memory_bound_particle_steps_per_s'] / 1e6:.1f} M/s "
        f"({row['bytes_per_particle_step']:.0f} B/particle-step), float32 arithmetic "
        f"{row['flop_bound_particle_steps_per_s'] / 1e6:.1f} M/s ({row['flops_per_particle_step']} flop); "
        f"share of the lower {100 * row['share_of_bound']:.0f} %"
    )
    print(
        f"  memory {row['bytes_per_particle']:.0f} B/particle held, {row['run_peak_bytes_per_particle']:.0f} run peak; "
        f"bond state {row['bond_state_bytes_per_particle']:.0f} B"
    )
    if "mean_damage" in row:
        ens = (
            f" (ensemble {row['ensemble_mean_damage']:.3f} +- {row['ensemble_damage_std']:.3f})"
            if "ensemble_mean_damage" in row
            else ""
        )
        print(f"  damage {row['mean_damage']:.4g}{ens}; contact pairs only LAMMPS sees at the end: "
              f"{row['contact_pairs_only_lammps_sees']}")  # fmt: skip
    if "lammps" in row:
        p = row["lammps"]
        if p is None:
            print("  LAMMPS: not available (lmp or its peri example missing): no ratio")
            return
        print(
            f"  LAMMPS (double, skin {p['skin_spacings']:g} spacings): 1 rank {g(p.get('seconds_1_rank'))} s, "
            f"2 ranks {g(p.get('seconds_2_rank'))} s; damage {g(p.get('mean_damage_2_rank'))}"
        )
        print(
            f"  ratio LAMMPS best / ours best: {g(row.get('ratio_best_vs_best'), '.2f')}x; "
            f"1 rank / 1 thread: {g(row.get('ratio_1_rank_vs_1_thread'), '.2f')}x "
            "(float32 vs double; contact scope as above)"
        )
        if double is not None:
            print(
                f"  ratio LAMMPS best / ours best, both double: {g(double.get('ratio_best_vs_best'), '.2f')}x; "
                f"1 rank / 1 thread: {g(double.get('ratio_1_rank_vs_1_thread'), '.2f')}x "
                "(same precision; contact scope as above)"
            )


if __name__ == "__main__":
    main()
