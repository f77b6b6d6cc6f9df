"""The pair kernels (each bond once, its force added to one end and subtracted from the other) against the
whole-stencil kernels (each bond twice): the same forces within float rounding, the same bonds broken, on a random
body with broken bonds, both laws, both precisions, 2D and 3D."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from physics import PMB, Body, Simulation, integrators
from physics.laws.lps import LPS

DX, RHO, E = 1e-3, 2700.0, 70e9


def random_body(dimension: int, seed: int) -> Body:
    rng = np.random.default_rng(seed)
    shape = (13, 9) if dimension == 2 else (11, 7, 6)
    occ = rng.random(shape) > 0.15
    if dimension == 2:
        return Body.from_occupancy(occ, DX, RHO, thickness=DX)
    return Body.from_occupancy(occ, DX, RHO)


def break_pairs(sim: Simulation, fraction: float, rng: np.random.Generator) -> None:
    """Clear both ends' bits of a random ``fraction`` of the bonds (a broken bond is broken at both ends)."""
    lat = sim.body.lattice
    nbr = lat.neighbours()
    opposite = {tuple(v): b for b, v in enumerate(lat.stencil)}
    opp = np.array([opposite[tuple(-v)] for v in lat.stencil])
    i, b = np.nonzero((nbr >= 0) & (rng.random(nbr.shape) < fraction))
    for ii, bb in zip(i, b, strict=True):
        for p, e in ((ii, bb), (nbr[ii, bb], opp[bb])):
            sim.bits[e >> 5, p] &= ~np.uint32(1 << (e & 31))


def evaluate(law, dimension: int, precision: str, seed: int, strain: float):
    rng = np.random.default_rng(seed)
    body = random_body(dimension, seed)
    sim = Simulation(body, law, precision=precision)
    break_pairs(sim, 0.1, rng)
    sim.u[:] = rng.normal(0.0, strain * DX, sim.u.shape)
    if dimension == 2:
        sim.u[:, 2] = 0.0
    integrators.to_grid(sim.u, body.lattice.cells, sim.ux, sim.uy, sim.uz)
    return sim


@pytest.mark.parametrize("dimension", [2, 3])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_lps_pairs_equal_the_whole_stencil(dimension, precision):
    out = {}
    for pairs in (False, True):
        law = LPS(E, 0.3, critical_stretch=4e-3)
        law.pairs = pairs
        sim = evaluate(law, dimension, precision, 7, 2e-3)
        bits0 = sim.bits.copy()
        law.compute(sim)
        out[pairs] = (sim.force.copy(), sim.newly_broken.copy(), sim.bits.copy(), bits0)
    (f0, nb0, b0, s0), (f1, nb1, b1, s1) = out[False], out[True]
    assert np.array_equal(s0, s1)
    assert nb0.sum() > 0 and (b0 != s0).any()  # some bonds broke in this evaluation
    assert np.array_equal(nb0, nb1) and np.array_equal(b0, b1)
    scale = np.abs(f0).max()
    tol = 2e-5 if precision == "float32" else 1e-12
    assert np.abs(f1 - f0).max() <= tol * scale
    assert not np.array_equal(f0, 0 * f0)


def test_lps_pairs_do_not_depend_on_the_thread_count():
    forces = []
    threads = numba.get_num_threads()
    try:
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            sim = evaluate(LPS(E, 0.3, critical_stretch=4e-3), 3, "float32", 3, 2e-3)
            sim.law.compute(sim)
            forces.append(sim.force.copy())
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(forces[0], forces[1])


@pytest.mark.parametrize("dimension", [2, 3])
@pytest.mark.parametrize(
    "precision, contact, scaled", [("float32", False, False), ("float64", True, True)]
)  # each combination compiles both kernels: a cold cache pays for every one
def test_pmb_directional_pairs_equal_the_whole_stencil(dimension, precision, contact, scaled):
    out = {}
    count = random_body(dimension, 5).count
    scale = np.random.default_rng(2).uniform(0.5, 1.5, count) if scaled else None
    for pairs in (False, True):
        law = PMB(youngs_modulus=E, critical_stretch=4e-3, contact=contact, stiffness_scale=scale)
        law.pairs = pairs
        sim = evaluate(law, dimension, precision, 5, 0.08 if contact else 3e-3)  # contact: pairs 10 % closer
        bits0 = sim.bits.copy()
        law.compute(sim)
        out[pairs] = (sim.force.copy(), sim.newly_broken.copy(), sim.bits.copy(), bits0)
    (f0, nb0, b0, s0), (f1, nb1, b1, s1) = out[False], out[True]
    assert np.array_equal(s0, s1)
    assert nb0.sum() > 0
    assert np.array_equal(nb0, nb1) and np.array_equal(b0, b1)
    tol = 2e-5 if precision == "float32" else 1e-12
    assert np.abs(f1 - f0).max() <= tol * np.abs(f0).max()
    if contact:  # the contact forces act: the same state without contact gives other forces
        plain = PMB(youngs_modulus=E, critical_stretch=4e-3, stiffness_scale=scale)
        sim = evaluate(plain, dimension, precision, 5, 0.08)
        plain.compute(sim)
        assert np.abs(sim.force - f0).max() > 1e-3 * np.abs(f0).max()



def test_frame_copy_follows_bits_changed_in_place():
    """A body whose runs lie along x (a RunFrame other than the lattice's order): the frame's bond words are
    gathered again only where the state's changed since the last copy; bonds cleared in place between two
    evaluations act as they do on a fresh law."""
    body = Body.from_occupancy(np.ones((16, 3, 3), bool), DX, RHO)
    assert not body.lattice.frame.identity
    rng = np.random.default_rng(5)
    sim = Simulation(body, LPS(E, 0.3), precision="float32")
    sim.u[:] = rng.normal(0.0, 1e-3 * DX, sim.u.shape)
    integrators.to_grid(sim.u, body.lattice.cells, sim.ux, sim.uy, sim.uz)
    sim.law.compute(sim)
    sim.law.compute(sim)  # the same bits: the copy is reused
    break_pairs(sim, 0.2, rng)
    sim.law.compute(sim)
    fresh = Simulation(body, LPS(E, 0.3), precision="float32")
    fresh.u[:] = sim.u
    fresh.bits[:] = sim.bits
    integrators.to_grid(fresh.u, body.lattice.cells, fresh.ux, fresh.uy, fresh.uz)
    fresh.law.compute(fresh)
    assert np.array_equal(sim.force, fresh.force)


def test_frame_buffers_follow_the_body_a_law_is_set_up_on():
    """One law set up on a body, then on another whose frame differs: the second evaluates as a fresh law does
    (the frame's buffers and gather indices are the new body's, not the first one's)."""
    law = LPS(E, 0.3)
    rng = np.random.default_rng(2)
    for shape in ((16, 3, 3), (3, 20, 4)):
        body = Body.from_occupancy(np.ones(shape, bool), DX, RHO)
        assert not body.lattice.frame.identity
        u = rng.normal(0.0, 1e-3 * DX, (body.count, 3))
        forces = []
        for which in (law, LPS(E, 0.3)):
            sim = Simulation(body, which, precision="float32")
            sim.u[:] = u
            integrators.to_grid(sim.u, body.lattice.cells, sim.ux, sim.uy, sim.uz)
            which.compute(sim)
            forces.append(sim.force.copy())
        assert np.array_equal(forces[0], forces[1])


def test_lps_pass_one_runs_once_after_bonds_break(monkeypatch):
    """Bonds cleared between evaluations, and two states of one law with different bits in turn (a tangent's and
    the simulation's): A, B and mb follow the bits before pass 1, which runs once per evaluation (it ran twice
    where bits had changed), and the forces are a fresh law's."""
    from physics.laws import lps_kernels

    calls = []
    original = lps_kernels.lps_pair_dilatation
    monkeypatch.setattr(lps_kernels, "lps_pair_dilatation", lambda *a: calls.append(1) or original(*a))
    rng = np.random.default_rng(4)
    sim = evaluate(LPS(E, 0.3), 3, "float32", 4, 1e-3)
    other = evaluate(sim.law, 3, "float32", 4, 1e-3)  # the same law set up again, on the same body
    other.bits[:] = sim.bits
    break_pairs(other, 0.1, rng)
    for state in (sim, other, sim, other, other):
        calls.clear()
        sim.law.compute(state)
        assert len(calls) == 1
        fresh = Simulation(state.body, LPS(E, 0.3), precision="float32")
        fresh.u[:] = state.u
        fresh.bits[:] = state.bits
        integrators.to_grid(fresh.u, state.body.lattice.cells, fresh.ux, fresh.uy, fresh.uz)
        fresh.law.compute(fresh)
        assert np.array_equal(state.force, fresh.force)


class _Linear:
    """A state as Newton's tangent products and the multigrid's probes are: ``breaking`` False."""

    breaking = False

    def __init__(self, sim: Simulation) -> None:
        for name in ("body", "u", "ux", "uy", "uz", "min_stretch"):
            setattr(self, name, getattr(sim, name))
        self.bits = sim.bits.copy()
        self.force = np.zeros_like(sim.force)
        self.newly_broken = np.zeros_like(sim.newly_broken)


@pytest.mark.parametrize("pairs", [False, True])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_lps_state_not_breaking_gets_the_same_forces_and_breaks_nothing(pairs, precision):
    """A state with ``breaking`` False skips the limit test (physics/laws/__init__.py): the same forces to the
    bit, no bond broken, where the same evaluation of a breaking state breaks some."""
    law = LPS(E, 0.3, critical_stretch=4e-3)
    law.pairs = pairs
    sim = evaluate(law, 3, precision, 7, 2e-3)
    linear = _Linear(sim)
    bits0 = sim.bits.copy()
    law.compute(linear)
    law.compute(sim)
    assert sim.newly_broken.sum() > 0 and (sim.bits != bits0).any()  # the breaking state broke bonds
    assert np.array_equal(linear.force, sim.force)
    assert np.array_equal(linear.bits, bits0) and linear.newly_broken.sum() == 0


@pytest.mark.parametrize("dimension", [2, 3])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_lps_plane_bonds_sum_three_terms_to_the_same_forces(dimension, precision):
    """The pair kernels sum a bond's dot products over its plane's three tensor components (LPS.terms,
    lps_kernels.PLANE_TERMS): the same forces and broken bonds, to the bit, as all six terms for every bond."""
    out = []
    for six in (True, False):
        law = LPS(E, 0.3, critical_stretch=4e-3)
        sim = evaluate(law, dimension, precision, 5, 2e-3)
        planes = law.terms.copy()
        assert (planes > 0).any() and (dimension == 3) == (planes == 0).any()  # 2D: every bond in the xy plane
        if six:
            law.terms[:] = 0
        law.compute(sim)
        out.append((sim.force.copy(), sim.bits.copy(), sim.newly_broken.copy()))
    assert out[1][2].sum() > 0  # bonds broke
    for a, b in zip(out[0], out[1], strict=True):
        assert np.array_equal(a, b)


def test_pair_plan_groups_blocks_evenly_for_the_threads():
    """PairPlan.scheduled: each call's blocks regrouped for the thread count, every block once, the groups' particle
    counts within one block of each other's (numba's prange alone split 7 blocks 4 / 3)."""
    body = Body.from_occupancy(np.ones((20, 12, 30), bool), DX, RHO)
    law = LPS(E, 0.3)
    Simulation(body, law)
    plan = law._plan
    size = dict(zip(plan.blocks[:, 0].tolist(), plan.block_particles.tolist(), strict=True))
    for split in (0, 1000):
        calls = plan.calls(split)
        for threads in (1, 2, 3, 5):
            scheduled = plan.scheduled(split, threads)
            assert len(scheduled) == len(calls)
            for blocks, (grouped, bounds) in zip(calls, scheduled, strict=True):
                assert sorted(grouped[:, 0].tolist()) == sorted(blocks[:, 0].tolist())
                assert bounds[0] == 0 and bounds[-1] == len(blocks) and len(bounds) - 1 <= threads
                pairs = zip(bounds[:-1], bounds[1:], strict=True)
                loads = [sum(size[r] for r in grouped[a:b, 0].tolist()) for a, b in pairs]
                assert max(loads) - min(loads) <= max(size[r] for r in blocks[:, 0].tolist())
