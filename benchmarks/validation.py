"""Validation of the particle engine (physics/) against analytic and experimental references.

    .venv/bin/python benchmarks/validation.py              # all cases, writes docs/validation.md
    .venv/bin/python benchmarks/validation.py --case wave --case tension --no-write
    .venv/bin/python benchmarks/validation.py --json

Every case builds its body from an occupancy array, runs the engine's PMB law (the 3D cantilever also LPS)
with velocity Verlet (damped for quasi-static cases) or the static solver and compares one measured figure with
its reference (REFERENCE.md section 3). Bond-based PMB fixes Poisson's ratio: nu = 1/4 in 3D and 2D plane strain,
nu = 1/3 in 2D plane stress; each case names which. Units: SI inside (the engine's); lattice spacing dx in m.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from validation_tools import (  # noqa: E402
    TorqueLoad,
    crack_path_angle,
    crossing_time,
    cut_bonds,
    griffith_stress,
    heywood_kt,
    markdown_table,
    rayleigh_speed,
    section_twist,
    smoothstep,
)

from exporters.atomic import atomic_open  # noqa: E402
from physics import LPS, PMB, Body, Fixed, Force, Simulation, Velocity  # noqa: E402

STEEL = {"E": 200e9, "rho": 7850.0}


def _row(
    case, reference, ref_value, measured, tolerance, ok, particles, resolution, seconds, error=None, unit=""
):
    if error is None:
        error = (measured - ref_value) / ref_value
    return {
        "case": case,
        "reference": reference,
        "ref_value": f"{ref_value:.4g} {unit}".strip(),
        "measured": f"{measured:.4g} {unit}".strip(),
        "error": f"{100 * error:+.1f} %" if isinstance(error, float) else error,
        "tolerance": tolerance,
        "pass": "PASS" if ok else "FAIL",
        "particles": particles,
        "resolution": resolution,
        "seconds": f"{seconds:.1f}",
        "_measured": float(measured),
        "_ref": float(ref_value),
        "_ok": bool(ok),
    }


# ---- 1. wave speed in a bar ---------------------------------------------------------------------------------
def case_wave(length: int = 100, side: int = 4, dx: float = 1e-3, ramp_cells: float = 12.0) -> dict:
    """Step load on one end of a free bar; the half-height crossing of each station's mean axial velocity
    travels at c0 = sqrt(E/rho) (3D, nu = 1/4, long waves)."""
    start = time.perf_counter()
    E, rho = STEEL["E"], STEEL["rho"]
    c0 = math.sqrt(E / rho)
    body = Body.from_occupancy(np.ones((length, side, side), bool), spacing=dx, density=rho)
    x = body.positions()[:, 0]
    body.point_set("end", x < 0.5 * dx)
    sim = Simulation(body, PMB(E), [Force("end", (-1e3, 0, 0), ramp_time=ramp_cells * dx / c0)])
    stations = np.arange(int(0.2 * length), int(0.65 * length) + 1, max(1, length // 20))
    members = [np.flatnonzero(np.isclose(x, s * dx)) for s in stations]
    times, speeds = [], []
    t_end = 0.95 * length * dx / c0
    dt = sim.stable_time_step(0.7)
    while sim.t < t_end:
        sim.run(1, dt=dt, check_every=1000)
        times.append(sim.t)
        speeds.append([-sim.v[m, 0].mean() for m in members])
    times, speeds = np.array(times), np.array(speeds)
    arrivals = []
    for k in range(len(stations)):
        arrivals.append(crossing_time(times, speeds[:, k], 0.5 * speeds[:, k].max()))
    slope = np.polyfit(np.array(arrivals), stations * dx, 1)[0]
    ok = abs(slope / c0 - 1) <= 0.05
    return _row(
        "wave speed in a bar",
        "c0 = sqrt(E/rho)",
        c0,
        slope,
        "5 %",
        ok,
        body.count,
        f"3D, {length}x{side}x{side}, dx {dx * 1e3:g} mm, nu 1/4",
        time.perf_counter() - start,
        unit="m/s",
    )


# ---- 2. uniform tension -----------------------------------------------------------------------------------
def case_tension(length: int = 40, side: int = 8, dx: float = 1e-3, force: float = 1e3) -> dict:
    """Bar clamped at one end, total force F at the other; gauge elongation between stations L/4 and 3L/4
    (away from the clamp and the loaded face) against F L_g / (E A)."""
    start = time.perf_counter()
    E, rho = STEEL["E"], STEEL["rho"]
    c0 = math.sqrt(E / rho)
    body = Body.from_occupancy(np.ones((length, side, side), bool), spacing=dx, density=rho)
    x = body.positions()[:, 0]
    body.point_set("clamp", x < 2.5 * dx)
    body.point_set("end", x > (length - 1.5) * dx)
    period = 4 * length * dx / c0  # first axial mode of a clamped-free bar
    sim = Simulation(body, PMB(E), [Fixed("clamp"), Force("end", (force, 0, 0), ramp_time=period)])
    dt = sim.stable_time_step(0.7)
    sim.damping = 2.0 * (2 * math.pi / period) * dt  # about critical for the first mode
    sim.run(int(6 * period / dt), dt=dt)
    a, b = length // 4, 3 * length // 4
    ua = sim.u[np.isclose(x, a * dx), 0].mean()
    ub = sim.u[np.isclose(x, b * dx), 0].mean()
    area = (side * dx) ** 2
    ref = force * (b - a) * dx / (E * area)
    measured = ub - ua
    ok = abs(measured / ref - 1) <= 0.05
    return _row(
        "uniform tension",
        "dL = F L / (E A)",
        ref * 1e6,
        measured * 1e6,
        "5 %",
        ok,
        body.count,
        f"3D, {length}x{side}x{side}, dx {dx * 1e3:g} mm, nu 1/4",
        time.perf_counter() - start,
        unit="um",
    )


# ---- 3. cantilever ----------------------------------------------------------------------------------------
def case_cantilever(
    length: int = 90,
    width: int = 12,
    height: int = 18,
    dx: float = 1e-3 / 3,
    load: float = 100.0,
    plane: bool = False,
    law: str = "pmb",
    tolerance: float = 1e-4,
) -> dict:
    """Beam clamped over 3 layers, tip load P on the end layer, solved by the engine's static solver
    (``relax``: adaptive dynamic relaxation, multigrid from 20k particles) to a residual of ``tolerance``;
    mean tip deflection against P L^3 / (3 E I) + P L / (k G A), k = 5/6, L from the clamp face to the load.
    3D: width x height cells, nu = 1/4 (G = E / 2.5), ``law`` "pmb" or "lps" (LPS at nu = 1/4). The defaults
    are the 30 x 4 x 6 mm beam at 3 cells per mm. ``plane=True``: 2D plane stress PMB beam of ``height``
    cells (nu = 1/3, G = 3E/8), thickness = width * dx."""
    start = time.perf_counter()
    E, rho = STEEL["E"], STEEL["rho"]
    clamp = 3
    nx = length + clamp
    b, h = width * dx, height * dx
    if plane:
        body = Body.from_occupancy(np.ones((nx, height), bool), spacing=dx, density=rho, thickness=b)
        model, force, axis, G = PMB(E, plane="stress"), (0, -load, 0), 1, E / (2 * (1 + 1 / 3))
        label = f"2D plane stress nu 1/3, {length}x{height} (+{clamp} clamp), dx {dx * 1e3:.3g} mm"
    else:
        body = Body.from_occupancy(np.ones((nx, width, height), bool), spacing=dx, density=rho)
        model = PMB(E) if law == "pmb" else LPS(E, 0.25)
        force, axis, G = (0, 0, -load), 2, E / 2.5
        label = f"3D {law.upper()} nu 1/4, {length}x{width}x{height} (+{clamp} clamp), dx {dx * 1e3:.3g} mm"
    x = body.positions()[:, 0]
    body.point_set("clamp", x < (clamp - 0.5) * dx)
    body.point_set("tip", x > (nx - 1.5) * dx)
    inertia, area = b * h**3 / 12, b * h
    span = (nx - 1 - (clamp - 0.5)) * dx
    sim = Simulation(body, model, [Fixed("clamp"), Force("tip", force)])
    sim.relax(max_steps=40000, tolerance=tolerance)
    measured = -sim.u[body.sets["tip"], axis].mean()
    ref = load * span**3 / (3 * E * inertia) + load * span / (5 / 6 * G * area)
    ok = abs(measured / ref - 1) <= 0.10
    return _row(
        "cantilever tip deflection" + (" (2D)" if plane else f" (3D, {law.upper()})"),
        "P L^3/(3EI) + P L/(kGA)",
        ref * 1e6,
        measured * 1e6,
        "10 %",
        ok,
        body.count,
        label,
        time.perf_counter() - start,
        unit="um",
    )


def case_cantilever_lps() -> dict:
    """The 3D cantilever with the LPS law (nu = 1/4): its interior is isotropic on the cubic lattice."""
    return case_cantilever(law="lps")


def case_cantilever_2d() -> dict:
    """The cantilever in 2D plane stress, 12 cells deep."""
    return case_cantilever(length=60, width=4, height=12, dx=1e-3, plane=True)


# ---- 4. torsion -------------------------------------------------------------------------------------------
def case_torsion(length: int = 30, diameter: int = 10, dx: float = 1e-3, torque: float = 10.0) -> dict:
    """Round bar (voxelised), clamped at one end, torque T on the end layer as tangential forces ~ r. Twist
    between stations at L/3 and 5L/6 against T L_g / (G J), G = E/2.5 (PMB, nu = 1/4), J = polar moment of the
    voxelised section (sum of r^2 dA + dx^4/6 per cell; pi d^4/32 differs by its staircase)."""
    start = time.perf_counter()
    E, rho = STEEL["E"], STEEL["rho"]
    clamp = 3
    nx = length + clamp
    j, k = np.meshgrid(np.arange(diameter), np.arange(diameter), indexing="ij")
    rc = (diameter - 1) / 2
    disc = (j - rc) ** 2 + (k - rc) ** 2 <= (diameter / 2) ** 2
    occ = np.repeat(disc[None], nx, axis=0)
    body = Body.from_occupancy(occ, spacing=dx, density=rho)
    pos = body.positions()
    x = pos[:, 0]
    body.point_set("clamp", x < (clamp - 0.5) * dx)
    body.point_set("end", x > (nx - 1.5) * dx)
    centre = np.array([0.0, rc * dx, rc * dx])
    G = E / 2.5
    c_s = math.sqrt(G / rho)
    period = 4 * length * dx / c_s
    load = TorqueLoad("end", torque, tuple(centre), axis=0, ramp_time=period)
    sim = Simulation(body, PMB(E), [Fixed("clamp"), load])
    dt = sim.stable_time_step(0.7)
    sim.damping = 2.0 * (2 * math.pi / period) * dt
    sim.run(int(10 * period / dt), dt=dt)
    a, b = clamp + length // 3, clamp + 5 * length // 6
    ta = section_twist(sim.x0, sim.u, np.flatnonzero(np.isclose(x, a * dx)), centre)
    tb = section_twist(sim.x0, sim.u, np.flatnonzero(np.isclose(x, b * dx)), centre)
    rr = ((j - rc) ** 2 + (k - rc) ** 2)[disc] * dx**2
    polar = float((rr * dx**2).sum() + disc.sum() * dx**4 / 6)
    ref = torque * (b - a) * dx / (G * polar)
    measured = tb - ta
    ok = abs(measured / ref - 1) <= 0.10
    return _row(
        "torsion of a round bar",
        "theta = T L / (G J)",
        ref * 1e3,
        measured * 1e3,
        "10 %",
        ok,
        body.count,
        f"3D, d {diameter} x L {length} cells, dx {dx * 1e3:g} mm, PMB nu 1/4 (G = E/2.5)",
        time.perf_counter() - start,
        unit="mrad",
    )


# ---- 5. plate with a hole ---------------------------------------------------------------------------------
def case_hole(
    width: int = 120, height: int = 240, hole: int = 40, dx: float = 1e-3, stress: float = 10e6
) -> dict:
    """2D plane stress (nu = 1/3) strip pulled at both ends (damped dynamics; the engine's
    relaxation had not finished on this free-free strip after 3 minutes); sigma_yy along the net section from central
    differences of the displacement, Hooke's law, extrapolated (quadratic fit over 1.5-8 cells) to the hole
    edge; Kt = sigma_max / sigma_net against Heywood 2 + (1 - d/W)^3."""
    start = time.perf_counter()
    E, rho, nu, t = STEEL["E"], STEEL["rho"], 1 / 3, 1e-3
    i, j = np.meshgrid(np.arange(width), np.arange(height + 1), indexing="ij")
    xc, yc = (width - 1) / 2, height / 2
    r = hole / 2
    occ = (i - xc) ** 2 + (j - yc) ** 2 > r**2
    body = Body.from_occupancy(occ, spacing=dx, density=rho, thickness=t)
    pos = body.positions() / dx
    body.point_set("top", pos[:, 1] > height - 0.5)
    body.point_set("bottom", pos[:, 1] < 0.5)
    total = stress * width * dx * t
    c0 = math.sqrt(E / rho)
    period = 2 * height * dx / c0  # first axial mode of the free strip
    conds = [Force("top", (0, total, 0), ramp_time=period), Force("bottom", (0, -total, 0), ramp_time=period)]
    sim = Simulation(body, PMB(E, plane="stress"), conds)
    dt = sim.stable_time_step(0.7)
    sim.damping = 2.0 * (2 * math.pi / period) * dt  # about critical for the first mode
    sim.run(int(8 * period / dt), dt=dt)
    grid = np.full((width, height + 1, 2), np.nan)
    ij = np.rint(pos[:, :2]).astype(int)
    grid[ij[:, 0], ij[:, 1]] = sim.u[:, :2]
    jc = int(yc)
    xs, sig = [], []
    for ii in range(1, width - 1):
        if not occ[ii, jc] or not (
            occ[ii - 1, jc] and occ[ii + 1, jc] and occ[ii, jc - 1] and occ[ii, jc + 1]
        ):
            continue
        exx = (grid[ii + 1, jc, 0] - grid[ii - 1, jc, 0]) / (2 * dx)
        eyy = (grid[ii, jc + 1, 1] - grid[ii, jc - 1, 1]) / (2 * dx)
        xs.append(ii - xc)
        sig.append(E / (1 - nu**2) * (eyy + nu * exx))
    xs, sig = np.abs(np.array(xs)), np.array(sig)
    sel = (xs - r >= 1.5) & (xs - r <= 8.0)
    fit = np.polyfit(xs[sel] - r, sig[sel], 2)
    peak = float(np.polyval(fit, 0.0))
    net = stress * width / (width - hole)
    measured = peak / net
    ref = heywood_kt(hole, width)
    ok = abs(measured / ref - 1) <= 0.15
    return _row(
        "plate with a hole, Kt (net)",
        "Heywood 2 + (1 - d/W)^3",
        ref,
        measured,
        "15 %",
        ok,
        body.count,
        f"2D plane stress nu 1/3, W {width} H {height} d {hole} cells, dx {dx * 1e3:g} mm",
        time.perf_counter() - start,
    )


# ---- 6. Griffith centre crack -----------------------------------------------------------------------------
def _crack_extent(damage: np.ndarray, row: np.ndarray, xrel: np.ndarray, threshold: float = 0.3) -> float:
    cracked = row & (damage >= threshold)
    return float(np.abs(xrel[cracked]).max()) if cracked.any() else 0.0


def case_griffith(size: int = 100, half_crack: int = 10, dx: float = 0.5e-3) -> dict:
    """2D plane stress square plate with a centre crack 2a (bonds cut); remote stress ramped slowly (damped)
    to 2x the Griffith stress. Critical stress = the applied stress when either tip has advanced by 2 cells.
    Reference sqrt(E G0 / (pi a)) with the finite-width factor sqrt(sec(pi a / W)) (Feddersen)."""
    start = time.perf_counter()
    E, rho, G0, t = 72e9, 2440.0, 135.0, 1e-3
    occ = np.ones((size, size + 1), bool)
    body = Body.from_occupancy(occ, spacing=dx, density=rho, thickness=t)
    pos = body.positions()
    body.point_set("top", pos[:, 1] > (size - 0.5) * dx)
    body.point_set("bottom", pos[:, 1] < 0.5 * dx)
    xc, yc = (size - 1) / 2 * dx, (size / 2 - 0.5) * dx  # crack line between two rows
    a = half_crack * dx
    sigma_g = griffith_stress(E, G0, a)
    ref = sigma_g / math.sqrt(1.0 / math.cos(math.pi * a / (size * dx)))
    peak = 2.0 * ref
    total = peak * size * dx * t
    c0 = math.sqrt(E / rho)
    transit = size * dx / c0
    ramp = 60 * transit
    conds = [Force("top", (0, total, 0), ramp_time=ramp), Force("bottom", (0, -total, 0), ramp_time=ramp)]
    sim = Simulation(body, PMB(E, G0, plane="stress"), conds)
    cut_bonds(sim, (xc - a, yc), (xc + a, yc))
    dt = sim.stable_time_step(0.7)
    sim.damping = 2.0 * (2 * math.pi / (2 * transit)) * dt * 0.5
    row = np.isclose(pos[:, 1], yc + 0.5 * dx)
    xrel = (pos[:, 0] - xc) / dx
    initial = _crack_extent(sim.damage(), row, xrel)
    chunk = max(1, int(0.25 * transit / dt))
    sigma_c = float("nan")
    while sim.t < ramp:
        sim.run(chunk, dt=dt)
        if _crack_extent(sim.damage(), row, xrel) >= initial + 2:
            sigma_c = peak * smoothstep(sim.t, ramp)
            break
    measured = sigma_c if math.isfinite(sigma_c) else peak
    ok = math.isfinite(sigma_c) and abs(measured / ref - 1) <= 0.20
    return _row(
        "Griffith centre crack",
        "sqrt(E G0/(pi a)) x width factor",
        ref / 1e6,
        measured / 1e6,
        "20 %",
        ok,
        body.count,
        f"2D plane stress nu 1/3, {size}x{size + 1}, 2a {2 * half_crack} cells, dx {dx * 1e3:g} mm",
        time.perf_counter() - start,
        unit="MPa",
    )


# ---- 7. dynamic mode-I crack ------------------------------------------------------------------------------
def case_crack_speed(length: int = 200, height: int = 80, dx: float = 0.5e-3, stress: float = 2e6) -> dict:
    """Glass plate (E 72 GPa, rho 2440, G0 3.8 J/m^2; Ha & Bobaru's set-up) with an edge pre-crack to the
    middle, traction sigma applied suddenly to the top and bottom edges, 2D plane stress (nu = 1/3). Crack tip
    = furthest particle (in x) whose damage grew by >= 0.3 (branches count: they still advance in x); speed = slope of a linear
    fit of tip position vs time while the tip runs from 10 % to 90 % of the remaining ligament."""
    start = time.perf_counter()
    E, rho, G0, t, nu = 72e9, 2440.0, 3.8, 1e-3, 1 / 3
    occ = np.ones((length, height + 1), bool)
    body = Body.from_occupancy(occ, spacing=dx, density=rho, thickness=t)
    pos = body.positions()
    body.point_set("top", pos[:, 1] > (height - 0.5) * dx)
    body.point_set("bottom", pos[:, 1] < 0.5 * dx)
    yc = (height / 2 - 0.5) * dx
    total = stress * length * dx * t
    sim = Simulation(
        body, PMB(E, G0, plane="stress"), [Force("top", (0, total, 0)), Force("bottom", (0, -total, 0))]
    )
    x_pre = length // 2 * dx
    cut_bonds(sim, (-dx, yc), (x_pre, yc))
    d0 = sim.damage()
    c_r = rayleigh_speed(E, rho, nu)
    dt = sim.stable_time_step(0.7)
    t_max = 3.0 * length * dx / c_r
    times, tips = [], []
    chunk = 5
    while sim.t < t_max:
        sim.run(chunk, dt=dt)
        cracked = sim.damage() - d0 >= 0.3
        tips.append(pos[cracked, 0].max() if cracked.any() else 0.0)
        times.append(sim.t)
        if tips[-1] >= (length - 4) * dx:
            break
    times, tips = np.array(times), np.array(tips)
    lig = (length - 1) * dx - x_pre
    sel = (tips >= x_pre + 0.1 * lig) & (tips <= x_pre + 0.9 * lig)
    speed = float(np.polyfit(times[sel], tips[sel], 1)[0]) if sel.sum() >= 3 else 0.0
    ratio = speed / c_r
    ok = 0.4 <= ratio <= 1.0
    err = "in range" if ok else ("below" if ratio < 0.4 else "above")
    return _row(
        "dynamic mode-I crack speed",
        f"0.4-1.0 c_R (c_R = {c_r:.0f} m/s)",
        c_r,
        speed,
        "0.4-1.0 c_R",
        ok,
        body.count,
        f"2D plane stress nu 1/3, {length}x{height + 1}, dx {dx * 1e3:g} mm",
        time.perf_counter() - start,
        error=f"{ratio:.2f} c_R, {err}",
        unit="m/s",
    )


# ---- 8. Kalthoff-Winkler ----------------------------------------------------------------------------------
def case_kalthoff(dx: float = 0.5e-3, duration: float = 90e-6, projectile: float = 32.0) -> dict:
    """Steel plate 100 (impact direction x) x 200 mm, two 50 mm notches 50 mm apart from the impacted edge,
    2D plane strain (nu = 1/4), E 191 GPa, rho 8000, G0 22,170 J/m^2. The projectile (32 m/s) is the same
    maraging steel, so the struck face moves at half its speed (equal impedances, u = v0 / 2; the 16-16.5
    m/s of the finite-element literature and of CabanaPD's example): that velocity is prescribed on the edge
    between the notches (3 rows). Angle of each crack to the notch direction from a straight-line fit of its
    path 3-25 mm from the notch tip (before branches; validation_tools.crack_path_angle); mean of the two."""
    start = time.perf_counter()
    E, rho, G0, t = 191e9, 8000.0, 22170.0, 9e-3
    nx, ny = int(round(0.1 / dx)), int(round(0.2 / dx))
    body = Body.from_occupancy(np.ones((nx, ny), bool), spacing=dx, density=rho, thickness=t)
    pos = body.positions()
    yc = (ny - 1) / 2 * dx
    notch = 0.05
    body.point_set("impact", (pos[:, 0] < 2.5 * dx) & (np.abs(pos[:, 1] - yc) < 0.025))
    face = Velocity("impact", (projectile / 2, 0, 0), ramp_time=1e-6)
    sim = Simulation(body, PMB(E, G0, plane="strain"), [face])
    for s in (-1, 1):
        y = yc + s * 0.025
        cut_bonds(sim, (-dx, y), (notch, y))
    d0 = sim.damage()
    dt = sim.stable_time_step(0.7)
    sim.run(int(duration / dt), dt=dt)
    grown = sim.damage() - d0 >= 0.3
    angles = [crack_path_angle(pos, grown, (notch, yc + s * 0.025), s, dx, 0.003, 0.025) for s in (-1, 1)]
    angles = [a for a in angles if math.isfinite(a)]
    measured = float(np.mean(angles)) if angles else float("nan")
    ok = bool(angles) and 60.0 <= measured <= 75.0
    err = "no crack" if not angles else ("in range" if ok else "out of range")
    return _row(
        "Kalthoff-Winkler crack angle",
        "60-75 deg (experiment ~70)",
        70.0,
        measured if angles else 0.0,
        "60-75 deg",
        ok,
        body.count,
        f"2D plane strain nu 1/4, {nx}x{ny}, dx {dx * 1e3:g} mm, face at {projectile / 2:g} m/s, "
        f"{duration * 1e6:g} us",
        time.perf_counter() - start,
        error=err,
        unit="deg",
    )


CASES = {
    "wave": case_wave,
    "tension": case_tension,
    "cantilever": case_cantilever,
    "cantilever_lps": case_cantilever_lps,
    "cantilever_2d": case_cantilever_2d,
    "torsion": case_torsion,
    "hole": case_hole,
    "griffith": case_griffith,
    "crack_speed": case_crack_speed,
    "kalthoff": case_kalthoff,
}

COLUMNS = [
    ("case", "case"),
    ("reference", "reference"),
    ("ref_value", "reference value"),
    ("measured", "measured"),
    ("error", "error"),
    ("tolerance", "tolerance"),
    ("pass", "pass/fail"),
    ("particles", "particles"),
    ("resolution", "resolution"),
    ("seconds", "seconds"),
]


def write_doc(rows: list[dict], path: Path, total: float) -> None:
    """docs/validation.md: how the cases are set up, then the table (written atomically)."""
    text = [
        "# Validation of the particle engine",
        "",
        "Written by `.venv/bin/python benchmarks/validation.py` (do not edit by hand). Each case runs the engine's",
        "PMB law (lattice-calibrated micromodulus, directional surface correction; one cantilever row LPS) with",
        "velocity Verlet; the cantilevers use the engine's static solver (adaptive dynamic relaxation, multigrid",
        "from 20k particles), the other quasi-static cases velocity damping",
        "of about critical for the first mode. Bond-based PMB fixes Poisson's",
        "ratio: 1/4 in 3D and 2D plane strain, 1/3 in 2D plane stress, so torsion uses G = E / 2.5.",
        "See each case's docstring in `benchmarks/validation.py` for how the figure is measured.",
        "",
        markdown_table(rows, COLUMNS),
        "",
        f"Total time {total:.0f} s on this machine (2 cores, shared; timings are noisy).",
        "",
        "## Notes",
        "",
        "- Wave speed is measured with a load ramp of 12 cells on a 4x4 bar, so the front is long compared with",
        "  the section (long-wave limit c0). A thicker bar or a sharper front reads 4-5 % slow (lateral inertia",
        "  and lattice dispersion, we think; not separated here).",
        "- Cantilever, 3D: the 4 x 6 mm section, about 30 mm span, at 1, 2 and 3 cells per mm (clamp 3 layers),",
        "  static solves to a residual of 1e-4 (at 1e-3 the relaxation stopped early: 4x6 cells read +13.5 %",
        "  instead of +17.7 %, the 2D beam -4.9 % instead of -0.8 %). PMB: +17.7 %",
        "  (4x6 cells across), +9.8 % (8x12), +8.6 % (12x18, the table); LPS: +18.0 %, +6.0 %, +3.3 % (the table).",
        "  With 4-6 cells across, the horizon (3 cells) spans half the section and both laws are 18 % soft: the",
        "  outer fibres' bonds reach into less strained material than the surface correction (calibrated on",
        "  uniform strain) assumes. That converges away with LPS. PMB levels off near +8 %: its 122-bond cubic",
        "  stencil is not isotropic (sum |xi| n_x^4 = 0.87 x 3 sum |xi| n_x^2 n_y^2), so with the bulk modulus",
        "  calibrated the interior's axial Young's modulus is 0.89 E (nu 0.28; the virial stress of an",
        "  affine uniaxial stress field agrees), and the surface correction",
        "  stiffens thin sections back by part of that (the 8x8 tension bar reads +4.6 % rather than +12 %).",
        "  Shell weights that make PMB's stencil isotropic (tried outside the engine) give +5.0 % (4x6) and -1.6 %",
        "  (8x12) on the beam but -6.4 % on the 8x8 tension bar: the surface correction then over-stiffens",
        "  uniaxial stress, so the calibration and the surface correction have to change together.",
        "  Command for the trend: `case_cantilever(length=30 * k, width=4 * k, height=6 * k, dx=1e-3 / k,",
        "  law=...)`, k = 1, 2, 3.",
        "- The 2D plane-stress beam 12 cells deep is within 1 % (the square stencil is nearly isotropic:",
        "  sum |xi| n_x^4 = 1.05 x 3 sum |xi| n_x^2 n_y^2).",
        "- Plate with a hole: the peridynamic horizon smooths the peak at the hole edge; Kt converges with the",
        "  hole size in cells: d = 20 cells reads -16.5 %, d = 40 cells (the table) -9.7 %.",
        "- Kalthoff-Winkler: the projectile (32 m/s) and the plate are the same steel, so the struck face moves",
        "  at v0 / 2 = 16 m/s (equal impedances; the finite-element literature prescribes 16.5 m/s, CabanaPD's",
        "  example 16). The cracks then run to the plate's sides at 64.8 deg (dx 1 mm, where a crack also starts",
        "  from the back face by 70 us) and the table's figure at 0.5 mm, with neither branches nor a back-face",
        "  crack by 90 us. Prescribing the full 32 m/s on the face (as some peridynamic",
        "  set-ups do) doubles the load: 60.7 deg (1 mm) and 61.6 deg (0.5 mm), both cracks branch and the back",
        "  face spalls by 50 us, which the experiment does not show. The angle is a straight-line fit of each",
        "  crack's path 3-25 mm from its notch tip (the first crack met on each row, so branches and back-face",
        "  cracks do not count); the former measure, the distance-weighted mean direction of all new damage",
        "  10-40 mm from the tip, read 56.8 deg on the 32 m/s, 1 mm run because it mixed the branches in.",
        "  Figures before 2026-12-05 14:20 UTC used the plane-stress breaking stretch in plane strain (3 % high);",
        "  with sqrt(5 pi G0 / (12 E delta)) the table's angle moved from 65.4 to 65.0 deg.",
        "- Crack tip for the dynamic crack = the furthest particle (in x) whose damage grew by >= 0.3, so",
        "  branches count.",
        "",
    ]
    with atomic_open(path, "w") as fh:
        fh.write("\n".join(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/validation.md")
    args = parser.parse_args(argv)
    names = args.case or list(CASES)
    rows = []
    start = time.perf_counter()
    for name in names:
        row = CASES[name]()
        rows.append(row)
        if not args.json:
            print(
                f"{row['case']:32s} ref {row['ref_value']:>14s}  measured {row['measured']:>14s}  "
                f"{row['error']:>20s}  {row['pass']}  n={row['particles']}  {row['seconds']} s",
                flush=True,
            )
    total = time.perf_counter() - start
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows], indent=1))
    else:
        print(markdown_table(rows, COLUMNS))
    if not args.no_write and not args.case:
        write_doc(rows, ROOT / "docs" / "validation.md", total)
    return 0 if all(r["_ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
