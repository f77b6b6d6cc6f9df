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

from physics import multigrid as mg
from physics.balance import (  # noqa: F401 (the measures are part of this module's interface too)
    STALL_SLACK,
    Diverged,
    diverged,
    imbalance,
    out_of_balance,
    residual_of,
    result,
    score,
)
from physics.errors import PhysicsError

# Fictitious mass over the stiffness estimate. Kilic & Madenci use 5; the Gershgorin row sum of |K| on a full
# lattice stencil is about 1.5 x sum c V / |xi| (our estimate), so 2 stays stable with room. Iterations go as
# sqrt(margin): PLA bracket at 2.5 mm, PMB 14,920 / 10,280 / 7,720 iterations at margins 5 / 2.5 / 1.5, LPS 5,560
# at 5 and 3,180 at 1.5; 0.8 (PMB) and 1.0 (LPS) were still stable.
MASS_MARGIN = 2.0
SAFE_MARGIN = 5.0  # the retry after a divergence


# Bodies with at least this many particles relax by geometric multigrid (physics/multigrid.py) when their law
# and conditions allow it; smaller ones (and every body whose bonds break during the solve) by plain ADR.
# bench_stress's 10,000-particle PMB bar: ADR 30,000 iterations (65 s) without balancing, multigrid 1.0 s.
MULTIGRID_MIN = 5000


def relax(
    sim,
    max_steps: int = 20000,
    tolerance: float = 2e-3,
    check_every: int = 20,
    callback: Callable[[int, float], bool] | None = None,
    multigrid: bool | None = None,
    balance: float | None = None,
) -> dict:
    """Relax ``sim`` in place to equilibrium; returns {"steps", "residual", "converged", "stopped", "stalled"}.
    Raises on NaN.

    Converged: residual_of below ``tolerance`` and, when ``balance`` is given, ``imbalance`` below it too (both
    solvers test the same two measures). ``callback(iteration, residual)`` runs at every check (progress, extra
    tests); returning True stops the solve there with ``converged`` False and ``stopped`` True. ``multigrid``:
    True uses the multigrid solver where the problem allows it, False plain ADR, None (default) multigrid from
    MULTIGRID_MIN particles. ``stalled`` (multigrid only): the solve stopped improving within STALL_SLACK of
    the targets, the resolution of the float32 force evaluation; ``score`` is then how far from them it is.
    A law with a static solver of its own (``law.relax``, physics/laws/__init__.py) solves instead.
    ``steps`` counts evaluations of the law on the body (multigrid: real-law residuals plus fine-level CG
    products; its smoothing and coarse levels are extra).
    """
    if max_steps < 1:
        raise PhysicsError(f"max_steps must be >= 1, got {max_steps}")
    own = getattr(sim.law, "relax", None)
    if own is not None:  # a law with its own static solver (voxel joints: a direct sparse solve)
        return own(sim, max_steps, tolerance, callback=callback)
    if multigrid is None:
        multigrid = sim.body.count >= MULTIGRID_MIN
    if multigrid:
        solver = mg.solver_for(sim)
        if solver is not None:
            out = solver.solve(max_steps, tolerance, callback, balance)
            if not out.get("handover"):
                return out
            # Bonds broke, or the multigrid stopped improving short of the targets: plain ADR from here.
            first = out["steps"]
            return adr(sim, max_steps - first, tolerance, check_every, callback, first_step=first, balance=balance)
    return adr(sim, max_steps, tolerance, check_every, callback, balance=balance)


def adr(
    sim,
    max_steps: int = 20000,
    tolerance: float = 2e-3,
    check_every: int = 20,
    callback: Callable[[int, float], bool] | None = None,
    first_step: int = 0,
    balance: float | None = None,
) -> dict:
    """Plain adaptive dynamic relaxation (see relax); iterations are numbered from ``first_step`` + 1.

    A margin under Kilic & Madenci's 5 diverged on some lean LPS designs (thin members, partial families): a
    diverged solve starts over from the same state (displacements, bond bits) with SAFE_MARGIN before giving up.
    """
    u0, bits0 = sim.u.copy(), sim.bits.copy()
    try:
        return _adr(sim, max_steps, tolerance, check_every, callback, first_step, MASS_MARGIN, balance)
    except Diverged:
        if MASS_MARGIN >= SAFE_MARGIN:
            raise
        sim.u[:] = u0
        sim.bits[:] = bits0
        return _adr(sim, max_steps, tolerance, check_every, callback, first_step, SAFE_MARGIN, balance)


def _adr(
    sim,
    max_steps: int,
    tolerance: float,
    check_every: int,
    callback: Callable[[int, float], bool] | None,
    first_step: int,
    margin: float,
    balance: float | None = None,
) -> dict:
    """One ADR solve with fictitious mass ``margin`` / 4 x the law's stiffness estimate; raises Diverged."""
    body = sim.body
    lam = (0.25 * margin * sim.law.relaxation_stiffness(body))[:, None]
    free = sim.free[:, None]
    sim.dt = 1.0
    f = out_of_balance(sim)
    v = f / (2.0 * lam)
    f_old = f
    residual = np.inf
    last = first_step + max_steps
    for step in range(first_step + 1, last + 1):
        sim.u += np.where(free, v, 0.0)
        f = out_of_balance(sim)
        dv = np.where(np.abs(v) > 1e-300, v, 1e-300)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf while blowing up: caught below
            k = -(f - f_old) / (lam * dv)
            k = np.where(free & (np.abs(v) > 1e-300), k, 0.0)
            uu = float((sim.u * sim.u * free).sum())
            uku = float((sim.u * k * sim.u).sum())
            c = 2.0 * np.sqrt(uku / uu) if uu > 0 and uku > 0 else 0.0
            c = min(c, 1.9)
            v = ((2.0 - c) * v + 2.0 * f / lam) / (2.0 + c)
        f_old = f
        if step % check_every == 0 or step == last:
            if not np.isfinite(sim.u).all():
                raise diverged(step)
            residual = residual_of(sim, f)
            if residual < tolerance and (balance is None or imbalance(sim) < balance):
                sim.v[:] = 0.0
                return result(step, residual, True)
            if callback is not None and callback(step, residual):
                sim.v[:] = 0.0
                return result(step, residual, False, stopped=True)
    sim.v[:] = 0.0
    return result(last, residual, False)
