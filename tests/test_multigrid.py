"""Multigrid static solves (physics/multigrid.py): the coarsest level's direct solve, the convergence criterion
shared with ADR (relax's ``balance``), and static tests through fab that match an ADR solve of the same job."""

from __future__ import annotations

import numpy as np
import pytest

from physics import Body, Fixed, Force, Simulation, make_law, multigrid, relaxation

DX = 1e-3


def _cantilever(model: str, shape=(24, 6, 6)) -> Simulation:
    body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 1240.0)
    body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
    body.point_set("tip", lambda x: x[:, 0] > (shape[0] - 1.5) * DX)
    law = (
        make_law(model, youngs_modulus=3.5e9)
        if model == "pmb"
        else make_law(model, youngs_modulus=3.5e9, poisson_ratio=0.36)
    )
    return Simulation(body, law, [Fixed("clamp"), Force("tip", value=(0.0, 0.0, -5.0))])


@pytest.mark.parametrize("model", ["pmb", "lps"])
def test_coarsest_level_assembles_the_copys_stiffness(monkeypatch, model):
    """The coarsest level's factor is the stiffness its copy applies, column by column: probing a colour at a
    time with a reach too short for the law (LPS couples particles two horizons apart) would drop entries."""
    monkeypatch.setattr(multigrid, "MIN_COARSE", 40)
    sim = _cantilever(model)
    solver = multigrid.solver_for(sim)
    assert solver is not None and len(solver.levels) >= 2
    level = solver.levels[-1]
    n = level.count
    columns = np.zeros((3 * n, 3 * n))
    for j in range(n):
        for k in range(3):
            v = np.zeros((n, 3))
            v[j, k] = 1.0
            columns[:, 3 * j + k] = level.apply(v).reshape(-1)
    probed = columns[np.ix_(level.dofs, level.dofs)]
    assembled = level.assembled()
    assert np.abs(assembled - probed).max() < 1e-3 * np.abs(probed).max()
    r = np.random.default_rng(1).standard_normal((n, 3)) * level.free
    z = level.direct(r).reshape(-1)[level.dofs]
    assert np.allclose(assembled @ z, r.reshape(-1)[level.dofs], rtol=0, atol=1e-9 * np.abs(r).max())


def test_coarsest_level_is_factored_banded_in_a_narrow_order(monkeypatch):
    """A long bar's coarsest level is factored banded (n (b + 1) numbers, not n^2): along x in the lattice's own
    order, along z in reverse Cuthill-McKee's (the lattice's order is wide there), of a like bandwidth;
    its solve is the dense solve of the matrix it assembled."""
    monkeypatch.setattr(multigrid, "MIN_COARSE", 40)
    bands = []
    for shape, tip in (((48, 6, 6), 0), ((6, 6, 48), 2)):
        body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 1240.0)
        body.point_set("clamp", lambda x, a=tip: x[:, a] < 1.5 * DX)
        body.point_set("tip", lambda x, a=tip, s=shape[tip]: x[:, a] > (s - 1.5) * DX)
        load = (0.0, -5.0, 0.0)
        sim = Simulation(body, make_law("pmb", youngs_modulus=3.5e9), [Fixed("clamp"), Force("tip", value=load)])
        level = multigrid.solver_for(sim).levels[-1]
        assert level.banded
        band = level.factor[0].shape[0] - 1
        assert band < 0.25 * len(level.dofs)
        bands.append(band)
        r = np.random.default_rng(2).standard_normal((level.count, 3)) * level.free
        dense = np.linalg.solve(level.assembled(), r.reshape(-1)[level.dofs])
        z = level.direct(r).reshape(-1)[level.dofs]
        assert np.abs(z - dense).max() < 1e-9 * np.abs(dense).max()
    assert bands[1] < 1.5 * bands[0]  # reverse Cuthill-McKee: near the lattice order along the bar


def test_the_bond_stencils_colouring_assembles_the_same_matrix_in_fewer_products():
    """A bond-based law's coarsest level is probed by a greedy colouring of its own particles over the bond
    stencil (no two of a colour share a row): the same factor, bit for bit, as the lattice's colours modulo
    2 reach + 1, in fewer products on a thin body (two plates, as a refinement's late designs)."""
    occ = np.zeros((28, 14, 10), dtype=bool)
    occ[:, :, :4] = True
    occ[:, :4, :] = True
    body = Body.from_occupancy(occ, DX, 1240.0)
    body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
    body.point_set("tip", lambda x: x[:, 0] > 26.5 * DX)
    sim = Simulation(body, make_law("pmb", youngs_modulus=3.5e9), [Fixed("clamp"), Force("tip", value=(0, 0, -5.0))])
    level = multigrid.solver_for(sim).levels[-1]
    lattice = level.op.body.lattice
    by_stencil = level.factor[0].copy()
    level.factorize(3)
    assert np.array_equal(level.factor[0], by_stencil)
    colours, _ = multigrid._stencil_colours(lattice.ijk, lattice.stencil)
    assert len(np.unique(colours)) < 0.75 * len(np.unique(multigrid._colours(lattice.ijk, 3)))


def test_balance_is_part_of_convergence_for_both_solvers(monkeypatch):
    """relax(balance=...) converges only with the net force and moment balanced as well, ADR and multigrid
    alike, and both land on the same deflection."""
    monkeypatch.setattr(multigrid, "MIN_COARSE", 40)
    tips = {}
    for mode in (False, True):
        sim = _cantilever("pmb")
        info = relaxation.relax(sim, 40000, 2e-3, multigrid=mode, balance=5e-3)
        assert info["converged"] and not info["stalled"]
        relaxation.out_of_balance(sim)
        assert relaxation.imbalance(sim) < 5e-3
        tips[mode] = float(sim.u[sim.body.sets["tip"], 2].mean())
    assert tips[True] == pytest.approx(tips[False], rel=0.01)


@pytest.mark.parametrize("model", ["pmb", "lps"])
def test_static_test_through_fab_matches_adr(monkeypatch, model):
    """The same static job solved by multigrid (forced on a small body), by Newton-Krylov (fab's default) and by
    ADR reports the same maximum displacement, von Mises stress and reactions within 1 %, in a fraction of the
    law evaluations."""
    import cadquery as cq

    from fab import equilibrium
    from fab.stress import stress_test

    monkeypatch.setattr(multigrid, "MIN_COARSE", 40)
    beam = cq.Workplane().box(30, 6, 6, centered=(False, True, True))
    reports = {}
    for solver, threshold, newton in (("adr", 10**12, False), ("mg", 0, False), ("newton", 0, True)):
        monkeypatch.setattr(relaxation, "MULTIGRID_MIN", threshold)
        monkeypatch.setattr(equilibrium, "NEWTON", newton)
        reports[solver] = stress_test(
            beam, material="Al6061-T6", pitch=1.0, fix="<X", load=">X:force=0,0,-100", model=model
        )
    adr = reports["adr"]
    assert adr.converged
    for other in (reports["mg"], reports["newton"]):
        assert other.converged
        assert other.max_displacement_mm == pytest.approx(adr.max_displacement_mm, rel=0.01)
        assert other.max_von_mises_pa == pytest.approx(adr.max_von_mises_pa, rel=0.01)
        assert np.allclose(other.reaction_force_n, adr.reaction_force_n, rtol=0, atol=0.01 * 100.0)
        assert other.steps * 10 < adr.steps


def test_plane_lps_matches_adr(monkeypatch):
    """A plane-stress LPS cantilever (the bracket morph's model) by multigrid: ADR's tip deflection within 1 %."""
    monkeypatch.setattr(multigrid, "MIN_COARSE", 60)
    tips = {}
    shape = (64, 12)
    for mode in (False, True):
        body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 1240.0, thickness=DX)
        body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
        body.point_set("tip", lambda x: x[:, 0] > (shape[0] - 1.5) * DX)
        law = make_law("lps", youngs_modulus=3.5e9, poisson_ratio=0.36, plane="stress")
        sim = Simulation(body, law, [Fixed("clamp"), Force("tip", value=(0.0, -5.0, 0.0))])
        info = relaxation.relax(sim, 40000, 2e-3, multigrid=mode, balance=5e-3)
        assert info["converged"]
        if mode:
            assert multigrid.solver_for(sim) is not None
        tips[mode] = float(sim.u[body.sets["tip"], 1].mean())
    assert tips[True] == pytest.approx(tips[False], rel=0.01)


def test_a_post_smoothing_without_its_residual_is_the_same_correction_for_one_product_fewer(monkeypatch):
    """The preconditioner's post-smoothing discards the residual after its last Chebyshev step: asked without
    it, smooth returns the same z and skips that step's product (one fine evaluation per preconditioning)."""
    monkeypatch.setattr(multigrid, "MIN_COARSE", 40)
    sim = _cantilever("pmb")
    solver = multigrid.solver_for(sim)
    assert solver is not None and len(solver.levels) >= 2
    level = solver.levels[0]
    r = np.random.default_rng(0).standard_normal((level.count, 3)) * level.free
    products = [0]
    apply = level.apply

    def counted(v):
        products[0] += 1
        return apply(v)

    monkeypatch.setattr(level, "apply", counted)
    for steps in (1, 3):
        products[0] = 0
        z, res = level.smooth(r, steps)
        with_residual = products[0]
        products[0] = 0
        z2, none = level.smooth(r, steps, residual=False)
        assert none is None and products[0] == with_residual - 1 == steps - 1
        assert np.array_equal(z, z2)
        assert res is not None and np.allclose(res, r - apply(z), rtol=1e-4, atol=1e-6 * np.abs(r).max())


def test_a_particle_with_no_bond_along_an_axis_has_a_finite_surface_factor_and_forces():
    """PMB's directional surface factor of a particle none of whose bonds reaches along an axis (a plate one
    particle thick; a coarse level's stray particle on a refinement's thin member) is 1, not bulk / 1e-30, whose
    square overflowed float32: NaN forces, no hierarchy, and Newton without one ran to its cap."""
    from physics.integrators import to_grid

    occ = np.zeros((12, 8, 3), dtype=bool)
    occ[:, :, 1] = True  # one particle thick along z
    body = Body.from_occupancy(occ, DX, 1240.0)
    law = make_law("pmb", youngs_modulus=3.5e9)
    law.setup(body)
    g = law.g_axes[:, law.grid_cells]
    assert np.isfinite(g).all() and g.max() < 1e3 and np.array_equal(g[2], np.ones(body.count))
    op = multigrid.Probe.fresh(body, make_law("pmb", youngs_modulus=3.5e9))
    op.u[:] = 1e-6 * np.random.default_rng(0).standard_normal((body.count, 3))
    to_grid(op.u, body.lattice.cells, op.ux, op.uy, op.uz)
    op.law.compute(op)
    assert np.isfinite(op.force).all() and np.abs(op.force).max() > 0


def test_a_coarsest_level_too_large_to_factor_refuses_the_hierarchy(monkeypatch):
    """A coarsening stopped early leaves a large coarsest level, whose dense assembly is (3n)^2 floats (13,000
    particles: 12 GB): past MAX_DIRECT particles there is no hierarchy (the callers go on without one) rather
    than the allocation."""
    monkeypatch.setattr(multigrid, "MIN_COARSE", 40)
    monkeypatch.setattr(multigrid, "MAX_LEVELS", 2)  # the coarsening stops after one level, as a NaN level stops it
    solver = multigrid.solver_for(_cantilever("pmb"))
    assert solver is not None
    coarsest = solver.levels[-1].count
    monkeypatch.setattr(multigrid, "MAX_DIRECT", coarsest - 1)
    assert multigrid.solver_for(_cantilever("pmb")) is None  # a new simulation: solvers are kept per simulation
    monkeypatch.setattr(multigrid, "MAX_DIRECT", coarsest)
    assert multigrid.solver_for(_cantilever("pmb")) is not None


def test_a_simulations_solvers_go_with_it():
    """The multigrid and Newton solvers hold their simulation; kept in weak-keyed dictionaries they kept it alive
    (a search's worker grew to 12 GB over its developments): a simulation dropped is freed with its solvers."""
    import gc
    import weakref

    from physics import newton

    sim = _cantilever("pmb")
    assert multigrid.solver_for(sim) is not None and newton.newton_for(sim) is not None
    gone = weakref.ref(sim)
    del sim
    gc.collect()
    assert gone() is None
