"""Adaptive dynamic relaxation (Kilic & Madenci 2010) for quasi-static problems.

Fictitious diagonal density lambda_i = MASS_MARGIN/4 dt^2 sum_j c_ij V_j / |xi_j| (dt = 1), so the fictitious
dynamics is stable; the damping coefficient follows the lowest participating frequency,
c_n = 2 sqrt(u^T K u / u^T u), with the local diagonal stiffness K_ii = -(F_i^n - F_i^(n-1)) / (lambda_i dt v_i^(n-1/2)). Loads are applied at their
full (ramped-out) value. Converged when the out-of-balance force on free particles is below ``tolerance`` times
the size of the bond forces (both as RMS force densities, N/m^3).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from physics import integrators
from physics.errors import PhysicsError

# Fictitious mass over the stiffness estimate. Kilic & Madenci use 5; the Gershgorin row sum of |K| on a full
# lattice stencil is about 1.5 x sum c V / |xi| (our estimate), so 2 stays stable with room. Iterations go as
# sqrt(margin): PLA bracket at 2.5 mm, PMB 14,920 / 10,280 / 7,720 iterations at margins 5 / 2.5 / 1.5, LPS 5,560
# at 5 and 3,180 at 1.5; 0.8 (PMB) and 1.0 (LPS) were still stable.
MASS_MARGIN = 2.0


def relax(
    sim,
    max_steps: int = 20000,
    tolerance: float = 2e-3,
    check_every: int = 20,
    callback: Callable[[int, float], bool] | None = None,
) -> dict:
    """Run ADR on ``sim`` in place; returns {"steps", "residual", "converged"}. Raises on NaN.

    ``callback(iteration, residual)`` runs at every check (progress, extra convergence tests); returning True
    stops the solve there with ``converged`` False and ``stopped`` True.
    """
    if max_steps < 1:
        raise PhysicsError(f"max_steps must be >= 1, got {max_steps}")
    body = sim.body
    lam = (0.25 * MASS_MARGIN * sim.law.relaxation_stiffness(body))[:, None]
    free = sim.free[:, None]
    cells = body.lattice.cells
    t_load = float("inf")  # every ramp complete

    def forces() -> np.ndarray:
        for cond in sim.conditions:
            cond.prescribe(sim, t_load)
        integrators.to_grid(sim.u, cells, sim.ux, sim.uy, sim.uz)
        sim.law.compute(sim)
        sim.internal[:] = sim.force
        for cond in sim.conditions:
            cond.load(sim, t_load)
        return np.where(free, sim.force, 0.0)

    sim.dt = 1.0
    f = forces()
    v = f / (2.0 * lam)
    f_old = f
    residual = np.inf
    for step in range(1, max_steps + 1):
        sim.u += np.where(free, v, 0.0)
        f = forces()
        dv = np.where(np.abs(v) > 1e-300, v, 1e-300)
        k = -(f - f_old) / (lam * dv)
        k = np.where(free & (np.abs(v) > 1e-300), k, 0.0)
        uu = float((sim.u * sim.u * free).sum())
        uku = float((sim.u * k * sim.u).sum())
        c = 2.0 * np.sqrt(uku / uu) if uu > 0 and uku > 0 else 0.0
        c = min(c, 1.9)
        v = ((2.0 - c) * v + 2.0 * f / lam) / (2.0 + c)
        f_old = f
        if step % check_every == 0 or step == max_steps:
            if not np.isfinite(sim.u).all():
                raise PhysicsError(
                    f"dynamic relaxation diverged at iteration {step}: check that the body is held "
                    "(at least one Fixed/Displacement set) and that loads are finite"
                )
            scale = np.sqrt(np.square(sim.internal, dtype=np.float64).sum() / body.count)
            residual = float(np.sqrt((f**2).sum() / body.count) / max(scale, 1e-300))
            if residual < tolerance:
                sim.v[:] = 0.0
                return {"steps": step, "residual": residual, "converged": True, "stopped": False}
            if callback is not None and callback(step, residual):
                sim.v[:] = 0.0
                return {"steps": step, "residual": residual, "converged": False, "stopped": True}
    sim.v[:] = 0.0
    return {"steps": max_steps, "residual": residual, "converged": False, "stopped": False}
