"""How far a state is from static balance: the measures both static solvers (physics/relaxation.py's adaptive
dynamic relaxation and physics/multigrid.py) test, and the result they return. Units: SI (force densities N/m^3).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
from numba import njit

from physics import integrators
from physics.errors import PhysicsError

# A multigrid solve that stops improving within this factor of its targets has reached the resolution of the
# float32 force evaluation (see physics/multigrid.py): it reports ``stalled`` instead of handing over to ADR.
STALL_SLACK = 4.0


FULL_LOAD = float("inf")  # the time at which every condition's ramp is complete


def at_full_load(sim, grids: bool = True) -> None:
    """Prescribed displacements at their full value in ``sim.u``; ``grids``: u copied to the law's grids too (what
    ``sim.law.compute`` and its break-only pass read)."""
    for cond in sim.conditions:
        cond.prescribe(sim, FULL_LOAD)
    if grids:
        integrators.to_grid(sim.u, sim.body.lattice.cells, sim.ux, sim.uy, sim.uz)


def out_of_balance(sim, bond_forces: Callable[[object], np.ndarray] | None = None) -> np.ndarray:
    """Force density (N/m^3) on the free particles at ``sim.u``, loads at full value; held particles get 0.

    Leaves the bond forces alone in ``sim.internal`` (float32) and bond + loads in ``sim.force``. The bond forces
    are the law's (``sim.law.compute``) unless ``bond_forces(sim)`` gives them (Newton's float32 twin)."""
    at_full_load(sim, grids=bond_forces is None)
    if bond_forces is None:
        sim.law.compute(sim)
    else:
        sim.force[:] = bond_forces(sim)
    sim.internal[:] = sim.force
    for cond in sim.conditions:
        cond.load(sim, FULL_LOAD)
    return np.where(sim.free[:, None], sim.force, 0.0)


def residual_of(sim, f: np.ndarray) -> float:
    """RMS out-of-balance force ``f`` over the RMS bond force density (the convergence measure)."""
    scale = np.sqrt(np.square(sim.internal, dtype=np.float64).sum() / sim.body.count)
    rms = np.sqrt((f**2).sum() / sim.body.count)
    if not scale > 0:  # no bond force yet (the undeformed start)
        return float("inf") if rms > 0 else 0.0
    return float(rms / scale)


def imbalance(sim) -> float:
    """Global out-of-balance after ``out_of_balance``: the net residual force and moment on the free particles,
    relative to the largest applied load or support reaction (and moment). Bond forces dwarf the loads in
    bending, so the RMS residual alone stops too early; a balanced body also balances its supports against its
    loads."""
    free = sim.free
    volume = sim.body.particle_volume
    r, size = _centred(sim)
    sums = _free_sums(np.asarray(sim.force, dtype=np.float64), np.asarray(sim.internal, dtype=np.float64),
                      np.ascontiguousarray(free, dtype=np.bool_), r)  # fmt: skip
    net_force = np.linalg.norm(sums[0]) * volume
    net_moment = np.linalg.norm(sums[1]) * volume
    force_scale = np.linalg.norm(sums[2]) * volume
    moment_scale = np.linalg.norm(sums[3]) * volume
    for cond in sim.conditions:
        held = cond.held()
        if held is None:
            continue
        reaction = -sim.internal[held] * volume
        force_scale = max(force_scale, float(np.linalg.norm(reaction.sum(axis=0))))
        moment_scale = max(moment_scale, float(np.linalg.norm(np.cross(r[held], reaction).sum(axis=0))))
    moment_scale = max(moment_scale, force_scale * size)
    if force_scale <= 0:
        return 0.0
    return float(max(net_force / force_scale, net_moment / moment_scale))


def _centred(sim) -> tuple[np.ndarray, float]:
    """The reference positions about their mean (m) and the body's size plus a spacing, kept for each simulation
    and its body (a Newton iteration tests the balance once: positions and masked cross products each time cost
    about as much as an evaluation of the law at 38,400 particles)."""
    cached = _CENTRED.get(sim)
    if cached is None or cached[0] is not sim.body:
        x = sim.x0
        size = float(np.ptp(x, axis=0).max()) + sim.body.lattice.spacing
        cached = (sim.body, np.ascontiguousarray(x - x.mean(axis=0)), size)
        _CENTRED[sim] = cached
    return cached[1], cached[2]


_CENTRED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@njit(cache=True)
def _free_sums(force: np.ndarray, internal: np.ndarray, free: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Over the free particles: the residual's sum and moment about the centre, the loads' (force - internal)
    sum and moment, as rows of a (4, 3) array."""
    out = np.zeros((4, 3))
    for i in range(force.shape[0]):
        if not free[i]:
            continue
        fx, fy, fz = force[i, 0], force[i, 1], force[i, 2]
        ax, ay, az = fx - internal[i, 0], fy - internal[i, 1], fz - internal[i, 2]
        rx, ry, rz = r[i, 0], r[i, 1], r[i, 2]
        out[0, 0] += fx
        out[0, 1] += fy
        out[0, 2] += fz
        out[1, 0] += ry * fz - rz * fy
        out[1, 1] += rz * fx - rx * fz
        out[1, 2] += rx * fy - ry * fx
        out[2, 0] += ax
        out[2, 1] += ay
        out[2, 2] += az
        out[3, 0] += ry * az - rz * ay
        out[3, 1] += rz * ax - rx * az
        out[3, 2] += rx * ay - ry * ax
    return out


def score(sim, residual: float, tolerance: float, balance: float | None) -> float:
    """How far from converged (below 1: converged): max(residual / tolerance, imbalance / balance)."""
    out = residual / tolerance if tolerance > 0 else float("inf")
    if balance is not None:
        out = max(out, imbalance(sim) / balance)
    return out


class Diverged(PhysicsError):
    """Dynamic relaxation blew up (non-finite displacements)."""


def diverged(step: int) -> PhysicsError:
    return Diverged(
        f"dynamic relaxation diverged at iteration {step}: check that the body is held "
        "(at least one Fixed/Displacement set) and that loads are finite"
    )


def result(steps: int, residual: float, converged: bool, *, stopped: bool = False, stalled: bool = False,
           score: float | None = None) -> dict:  # fmt: skip
    """The dict relax returns."""
    return {"steps": steps, "residual": residual, "converged": converged, "stopped": stopped,
            "stalled": stalled, "score": score}  # fmt: skip
