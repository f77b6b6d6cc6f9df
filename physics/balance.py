"""How far a state is from static balance: the measures both static solvers (physics/relaxation.py's adaptive
dynamic relaxation and physics/multigrid.py) test, and the result they return. Units: SI (force densities N/m^3).
"""

from __future__ import annotations

import numpy as np

from physics import integrators
from physics.errors import PhysicsError

# A multigrid solve that stops improving within this factor of its targets has reached the resolution of the
# float32 force evaluation (see physics/multigrid.py): it reports ``stalled`` instead of handing over to ADR.
STALL_SLACK = 4.0


def out_of_balance(sim) -> np.ndarray:
    """Force density (N/m^3) on the free particles at ``sim.u``, loads at full value; held particles get 0.

    Leaves the bond forces alone in ``sim.internal`` (float32) and bond + loads in ``sim.force``."""
    t_load = float("inf")  # every ramp complete
    for cond in sim.conditions:
        cond.prescribe(sim, t_load)
    integrators.to_grid(sim.u, sim.body.lattice.cells, sim.ux, sim.uy, sim.uz)
    sim.law.compute(sim)
    sim.internal[:] = sim.force
    for cond in sim.conditions:
        cond.load(sim, t_load)
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
    x = sim.x0
    r = x - x.mean(axis=0)
    applied = (sim.force - sim.internal)[free]
    residual = sim.force[free]
    net_force = np.linalg.norm(residual.sum(axis=0)) * volume
    net_moment = np.linalg.norm(np.cross(r[free], residual).sum(axis=0)) * volume
    force_scale = np.linalg.norm(applied.sum(axis=0)) * volume
    moment_scale = np.linalg.norm(np.cross(r[free], applied).sum(axis=0)) * volume
    for cond in sim.conditions:
        held = cond.held()
        if held is None:
            continue
        reaction = -sim.internal[held] * volume
        force_scale = max(force_scale, float(np.linalg.norm(reaction.sum(axis=0))))
        moment_scale = max(moment_scale, float(np.linalg.norm(np.cross(r[held], reaction).sum(axis=0))))
    size = float(np.ptp(x, axis=0).max()) + sim.body.lattice.spacing
    moment_scale = max(moment_scale, force_scale * size)
    if force_scale <= 0:
        return 0.0
    return float(max(net_force / force_scale, net_moment / moment_scale))


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
