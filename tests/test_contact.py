"""Cell lists, separate bodies, contact between unbonded particles, and the plane indenter (tiny lattices)."""

from __future__ import annotations

import numpy as np
import pytest

from physics import (
    LPS,
    PMB,
    Body,
    CellList,
    Contact,
    Fixed,
    Force,
    PhysicsError,
    PlaneIndenter,
    Simulation,
    pairs_within,
)

DX = 1e-3
RHO = 7850.0


def brute_pairs(x: np.ndarray, h: float) -> set:
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    i, j = np.nonzero(np.triu(d2 < h * h, k=1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def test_cell_list_pairs_equal_brute_force():
    rng = np.random.default_rng(4)
    x = rng.random((700, 3)) * np.array([1.0, 2.0, 0.3])
    x[0] = [40.0, -30.0, 5.0]  # a far outlier: the bin grid is capped, results unchanged
    h = 0.11
    i, j = pairs_within(x, h)
    assert (i < j).all()
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == brute_pairs(x, h)
    # Full CSR rows, a smaller query cutoff, and the cross-label filter.
    cl = CellList(x, h)
    labels = rng.integers(0, 3, len(x))
    row, nbr = cl.neighbours(0.07, labels=labels)
    ii = np.repeat(np.arange(len(x)), np.diff(row))
    got = {(a, b) for a, b in zip(ii.tolist(), nbr.tolist(), strict=True) if a < b}
    want = {(a, b) for a, b in brute_pairs(x, 0.07) if labels[a] != labels[b]}
    assert got == want and len(nbr) == 2 * len(want)
    # 2D clouds (z = 0) and an empty cloud.
    x2 = x.copy()
    x2[:, 2] = 0.0
    assert set(zip(*map(np.ndarray.tolist, pairs_within(x2, h)), strict=True)) == brute_pairs(x2, h)
    assert len(pairs_within(np.zeros((0, 3)), h)[0]) == 0
    with pytest.raises(PhysicsError, match="cutoff"):
        CellList(x, 0.0)


def two_blocks(n: int = 6, gap: int = 4) -> Body:
    occ = np.zeros((2 * n + gap, n, n), dtype=bool)
    labels = np.zeros(occ.shape, dtype=int)
    occ[:n] = occ[n + gap :] = True
    labels[:n], labels[n + gap :] = 1, 2
    return Body.from_occupancy(occ, DX, RHO, labels=labels)


def test_labelled_bodies_share_no_bonds():
    body = two_blocks(gap=0)  # touching blocks: every cross pair is within the horizon, none is bonded
    assert body.bodies == 2 and set(np.unique(body.body_id)) == {0, 1}
    sim = Simulation(body, PMB(youngs_modulus=200e9))
    assert sim.fragments()[0] == 2
    # Each block sees itself alone: the same bond counts and surface factors as a lone block.
    lone = Simulation(Body.from_occupancy(np.ones((6, 6, 6), bool), DX, RHO), PMB(youngs_modulus=200e9))
    first = body.body_id == 0
    assert (sim.initial_bond_count[first] == lone.initial_bond_count).all()
    cells = sim.law.grid_cells[first]
    assert np.allclose(sim.law.g_axes[:, cells], lone.law.g_axes[:, lone.law.grid_cells])
    with pytest.raises(PhysicsError, match="labels"):
        Body.from_occupancy(np.ones((3, 3, 3), bool), DX, RHO, labels=np.zeros((3, 3), int))
    with pytest.raises(PhysicsError, match="several bodies"):
        Simulation(lone.body, PMB(youngs_modulus=200e9), [Contact()])


def test_blocks_collide_bounce_conserve_momentum_and_energy():
    body = two_blocks()
    contact = Contact()
    sim = Simulation(body, PMB(youngs_modulus=200e9), [contact])
    first = body.body_id == 0
    sim.v[:, 0] = np.where(first, 50.0, -50.0)  # fired at each other, 5 spacings apart
    mass = body.density * body.particle_volume

    def energy() -> float:
        return 0.5 * mass * (sim.v**2).sum() + sim.strain_energy_density().sum() * body.particle_volume

    e0 = energy()
    p_body = mass * sim.v[first, 0].sum()
    gaps, largest_force = [], 0.0
    for _ in range(60):
        res = sim.run(20, safety=0.5)
        px = res.positions[:, 0]
        gaps.append(px[~first].min() - px[first].max())
        largest_force = max(largest_force, abs(contact.forces[0, 0]))
        assert contact.forces[0] == pytest.approx(-contact.forces[1], abs=1e-9 * max(largest_force, 1.0))
    assert min(gaps) > 0.5 * DX  # never interpenetrate (contact distance 0.9 dx)
    assert gaps[-1] > gaps[-2] > 1.0 * DX  # apart again and separating
    assert largest_force > 0
    # Momentum: the total stays zero to rounding, each block's is reversed (nearly elastic).
    assert np.abs(mass * sim.v.sum(axis=0)).max() < 1e-6 * abs(p_body)
    assert mass * sim.v[first, 0].sum() == pytest.approx(-p_body, rel=0.1)
    # Energy (kinetic + strain; contact energy is 0 once apart) conserved without damping.
    assert contact.energy == 0.0
    assert energy() == pytest.approx(e0, rel=0.01)
    assert contact.rebuilds > 1


def test_lps_plane_stress_blocks_bounce():
    """2D bodies and a law without a micromodulus (LPS: contact stiffness from its bulk modulus)."""
    occ = np.zeros((20, 8), dtype=bool)
    labels = np.zeros(occ.shape, dtype=int)
    occ[:8], labels[:8] = True, 1
    occ[12:], labels[12:] = True, 2
    body = Body.from_occupancy(occ, DX, 2700.0, thickness=2e-3, labels=labels)
    contact = Contact()
    sim = Simulation(body, LPS(70e9, 0.3), [contact])
    first = body.body_id == 0
    sim.v[:, 0] = np.where(first, 60.0, -60.0)
    mass = body.density * body.particle_volume
    p_body = mass * sim.v[first, 0].sum()
    gaps = []
    for _ in range(60):
        px = sim.run(20, safety=0.5).positions[:, 0]
        gaps.append(px[~first].min() - px[first].max())
    assert min(gaps) > 0.5 * DX and gaps[-1] > 2 * DX
    assert mass * sim.v[first, 0].sum() == pytest.approx(-p_body, rel=0.15)
    assert np.abs(mass * sim.v.sum(axis=0)).max() < 1e-6 * abs(p_body)


def test_relaxation_carries_a_load_through_contact():
    """A block pressed onto another (fixed) block: dynamic relaxation includes the contact force like a load, and
    the support reacts the whole load through it."""
    occ = np.ones((5, 5, 10), dtype=bool)
    labels = np.ones(occ.shape, dtype=int)
    labels[:, :, 5:] = 2
    body = Body.from_occupancy(occ, DX, RHO, labels=labels)
    body.point_set("base", lambda x: x[:, 2] < 0.5e-3)
    body.point_set("top", lambda x: x[:, 2] > 8.5e-3)
    contact = Contact()
    sim = Simulation(body, PMB(youngs_modulus=200e9), [Fixed("base"), Force("top", (0, 0, -1e3)), contact])
    res = sim.relax(tolerance=1e-3)
    assert res.history["converged"] == [True]
    assert sim.reaction("base")[2] == pytest.approx(1e3, rel=0.01)
    assert contact.forces[1, 2] == pytest.approx(1e3, rel=0.01)  # the lower block pushes the upper one up
    assert contact.forces[0] == pytest.approx(-contact.forces[1], abs=1e-6)


def test_contact_is_deterministic_across_thread_counts(monkeypatch):
    """Each particle sums its own contact row: the same bits with 1 or 2 threads, serial or parallel rows."""
    import numba

    import physics.contact

    def run(threads: int, parallel_work: int) -> np.ndarray:
        monkeypatch.setattr(physics.contact, "PARALLEL_WORK", parallel_work)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            body = two_blocks(n=5, gap=1)
            sim = Simulation(body, PMB(youngs_modulus=200e9), [Contact(fragments=True)])
            sim.v[:, 0] = np.where(body.body_id == 0, 50.0, -50.0)
            sim.run(300, safety=0.5)
            return sim.u.copy()
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)

    reference = run(1, 10**9)
    assert np.abs(reference).max() > 0
    assert np.array_equal(run(2, 0), reference)
    assert np.array_equal(run(1, 0), reference)


def cut(sim: Simulation, body: Body, plane_x: float) -> np.ndarray:
    """Break every bond crossing x = plane_x (a crack through the bar)."""
    x = body.positions()[:, 0]
    nbr = body.lattice.neighbours()
    for b in range(nbr.shape[1]):
        j = nbr[:, b]
        crossing = (j >= 0) & ((x < plane_x) != (x[np.maximum(j, 0)] < plane_x))
        sim.bits[b >> 5, crossing] &= ~np.uint32(1 << (b & 31))
    return x


@pytest.mark.parametrize("gap", [0, 4])
def test_fragment_does_not_pass_through_the_body(gap):
    """A bar cut through (broken bonds, gap 0) or a piece never bonded to it (gap 4, beyond the horizon) flies
    into the rest of the same body: with Contact(fragments=True) they bounce, without it they pass through."""

    def closest_gap(fragments: bool) -> float:
        occ = np.zeros((8 + gap, 3, 3), dtype=bool)
        occ[:4] = occ[4 + gap :] = True
        body = Body.from_occupancy(occ, DX, RHO)
        conditions = [Contact(fragments=True)] if fragments else []
        sim = Simulation(body, PMB(youngs_modulus=1e9), conditions)
        split = (3.5 + 0.5 * gap) * DX
        x = cut(sim, body, split)
        assert sim.fragments()[0] == 2
        sim.v[:, 0] = np.where(x < split, 20.0, -20.0)
        gaps = []
        for _ in range(30 + 10 * gap):  # 40 m/s closing: about 4 mm per 30 samples
            px = sim.run(10, safety=0.5).positions[:, 0]
            gaps.append(px[x > split].min() - px[x < split].max())
        return min(gaps)

    assert closest_gap(True) > 0.5 * DX
    assert closest_gap(False) < 0.0


def test_fragments_of_a_dynamic_fracture_do_not_interpenetrate():
    """A bar torn in two during the run (bonds break after the contact list was built), then the halves are sent
    back into each other: with Contact(fragments=True) no two particles of different fragments come closer than
    half a spacing; without it the halves pass through each other."""

    def close_pairs(contact: bool) -> tuple[int, int]:
        body = Body.from_occupancy(np.ones((16, 3, 3), dtype=bool), DX, RHO)
        sim = Simulation(
            body, PMB(youngs_modulus=1e9, fracture_energy=20.0), [Contact(fragments=True)] if contact else []
        )
        x = body.positions()[:, 0]
        left = x < x.mean()
        sim.v[:, 0] = np.where(left, -20.0, 20.0)
        while True:  # pulled apart until it breaks and the crack is open
            px = sim.run(10, safety=0.5).positions[:, 0]
            if sim.fragments()[0] >= 2 and px[~left].min() - px[left].max() > 1.5 * DX:
                break
        sim.v[:, 0] *= -1.0
        close = 0
        for _ in range(60):
            res = sim.run(10, safety=0.5)
            labels = sim.fragments()[1]
            i, j = pairs_within(res.positions, 0.5 * DX)
            close += int((labels[i] != labels[j]).sum())
        return close, sim.step

    close, steps = close_pairs(True)
    assert close == 0 and steps > 600
    assert close_pairs(False)[0] > 0


def test_intact_bonds_are_not_contacts():
    """Under compression intact bonds carry the load; contact acts only between unbonded particles."""
    body = Body.from_occupancy(np.ones((6, 6, 6), dtype=bool), DX, RHO)
    contact = Contact(fragments=True)
    sim = Simulation(body, PMB(youngs_modulus=200e9), [contact])
    sim.u[:] = -0.2 * (body.positions() - body.positions().mean(axis=0))  # 20 % compression: r = 0.8 dx
    sim.run(0)  # one force evaluation
    assert contact.pairs > 0 and contact.energy == 0.0 and not contact.forces.any()


def test_plane_indenter_reaction_balances_support():
    body = Body.from_occupancy(np.ones((6, 6, 6), dtype=bool), DX, RHO)
    body.point_set("bottom", lambda x: x[:, 2] < 0.5e-3)
    top = body.positions()[:, 2].max()
    # The plane sits 2 um into the top face, its normal pointing down into the block.
    plane = PlaneIndenter(point=(0.0, 0.0, top - 2e-6), normal=(0.0, 0.0, -1.0), stiffness=1e17)
    sim = Simulation(body, PMB(youngs_modulus=200e9), [Fixed("bottom"), plane])
    res = sim.relax(tolerance=1e-3)
    assert res.history["converged"] == [True]
    assert plane.reaction[2] > 0  # the block pushes the plane up
    # Equilibrium: the support carries exactly what the plane pushes (within the relaxation tolerance).
    assert sim.reaction("bottom") == pytest.approx(plane.reaction, rel=0.02, abs=1e-3 * plane.reaction[2])
    top_set = body.positions()[:, 2] > top - 1e-6
    assert res.displacement[top_set, 2].mean() < 0  # pressed down


def test_moving_plane_impulse_equals_block_momentum():
    body = Body.from_occupancy(np.ones((5, 5, 5), dtype=bool), DX, RHO)
    plane = PlaneIndenter(
        point=(-0.1e-3, 0.0, 0.0), normal=(1.0, 0.0, 0.0), stiffness=1e17, velocity=(20.0, 0, 0)
    )
    sim = Simulation(body, PMB(youngs_modulus=200e9), [plane])
    mass = body.density * body.particle_volume
    impulse = np.zeros(3)
    dt = sim.stable_time_step(0.5)
    for _ in range(300):
        before = plane.reaction.copy()
        sim.run(1, dt=dt)
        impulse -= 0.5 * (before + plane.reaction) * dt  # force on the block = - reaction; trapezoid = Verlet
    momentum = mass * sim.v.sum(axis=0)
    assert momentum[0] > 0
    assert momentum == pytest.approx(impulse, rel=1e-6, abs=1e-6 * momentum[0])
