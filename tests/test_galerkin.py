"""The failure test's Galerkin coarse level (physics/multigrid.py Galerkin, Composite; physics/newton.py
Newton.galerkin): R K P assembled by probing equals the product it stands for, and it preconditions better than
the re-discretised K-cycle."""

from __future__ import annotations

import numpy as np
import pytest

from physics import Body, Fixed, Force, Simulation, make_law, multigrid, newton

DX = 1e-3


def _cantilever(shape) -> Simulation:
    body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 2700.0)
    body.point_set("clamp", lambda x: x[:, 0] < 0.5 * DX)
    body.point_set("tip", lambda x: x[:, 0] > (shape[0] - 1.5) * DX)
    law = make_law("pmb", youngs_modulus=70e9)
    return Simulation(body, law, [Fixed("clamp"), Force("tip", value=(0.0, 0.0, -50.0))])


def _assembled(level) -> np.ndarray:
    """The matrix ``factorize`` assembled and factored."""
    return level.assembled()


@pytest.mark.parametrize("shape,levels", [((40, 5, 5), 1), ((64, 10, 10), 2)])
def test_assembled_galerkin_level_is_r_k_p(shape, levels):
    """The coloured probing with ``galerkin_reach`` captures every entry of R K P: the assembled matrix times v
    equals R K P v (to the tangent's finite-difference accuracy), one and two coarsenings below; a reach one
    short mixes columns and does not."""
    sim = _cantilever(shape)
    solver = newton.newton_for(sim)
    solver.residual()
    solver.prepare()
    kcycle = solver.mg
    assert len(kcycle.levels) > levels
    fine_reach = 3 * sim.law.interaction_range
    coarse = kcycle.levels[levels]
    transfer = kcycle.transfers[0] if levels == 1 else multigrid.Composite(kcycle.transfers[:levels],
                                                                            kcycle.levels[1:levels])  # fmt: skip
    reach = multigrid.galerkin_reach(fine_reach, levels)
    v = np.random.default_rng(1).standard_normal((coarse.count, 3)) * coarse.free

    def error(level) -> float:
        kv = level.apply(v).reshape(-1)[level.dofs]
        return float(np.abs(_assembled(level) @ v.reshape(-1)[level.dofs] - kv).max() / np.abs(kv).max())

    good = error(multigrid.Galerkin(solver.tangent, transfer, coarse, reach))
    short = error(multigrid.Galerkin(solver.tangent, transfer, coarse, reach - 1))
    assert good < 5e-4 and short > 5 * good


def test_composite_transfer_is_the_product_of_its_transfers():
    sim = _cantilever((64, 10, 10))
    kcycle = newton.newton_for(sim).mg
    t0, t1 = kcycle.transfers[:2]
    l1, l2 = kcycle.levels[1:3]
    comp = multigrid.Composite([t0, t1], [l1])
    e = np.random.default_rng(2).standard_normal((l2.count, 3))
    assert np.allclose(comp.prolong(e), t0.prolong(np.where(l1.free, t1.prolong(e), 0.0)))
    f = np.random.default_rng(3).standard_normal((sim.body.count, 3))
    assert np.allclose(comp.restrict(f, l2.count), t1.restrict(np.where(l1.free, t0.restrict(f, l1.count), 0.0),
                                                                l2.count))  # fmt: skip


def test_newton_with_the_galerkin_level_takes_fewer_products_to_the_same_answer():
    """K a = q on the service tangent of a cantilever: the Galerkin level with one smoothing step a side reaches
    1e-6 in fewer tangent products than the K-cycle, and both give the same a."""
    sim = _cantilever((40, 5, 5))
    solver = newton.newton_for(sim)
    assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
    solver.residual()
    solver.prepare()
    q = solver.pattern.q
    start = solver.tangent.products
    a_kcycle, _ = solver.krylov(q, 1e-6)
    kcycle_products = solver.tangent.products - start
    assert solver.galerkin()
    start = solver.tangent.products
    a_galerkin, _ = solver.krylov(q, 1e-6)
    assert solver.tangent.products - start < kcycle_products
    # Both reach a relative residual of 1e-6; the solutions then agree to the conditioning's share of it (1e-4 of
    # the largest entry failed at 1.7e-4 once the kernels' rounding changed), far below any preconditioner defect.
    assert np.abs(a_galerkin - a_kcycle).max() < 1e-3 * np.abs(a_kcycle).max()


def test_a_coarse_level_with_non_finite_forces_leaves_newton_without_a_hierarchy(monkeypatch):
    """A coarse lattice on which the law gives non-finite forces (its factorisation raises ValueError) means no
    multigrid, not a traceback: Newton solves with Chebyshev smoothing alone."""

    def broken(self, *args):
        raise ValueError("array must not contain infs or NaNs")

    monkeypatch.setattr(multigrid.Level, "factorize", broken)
    sim = _cantilever((40, 5, 5))
    assert multigrid.solver_for(sim) is None
    res = newton.solve(sim, tolerance=2e-3, balance=5e-3)
    assert res["converged"] and newton.newton_for(sim).mg is None
