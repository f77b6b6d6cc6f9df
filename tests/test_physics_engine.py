"""Fast checks of the particle engine on tiny lattices (SI units)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physics import (
    PMB,
    Body,
    Displacement,
    Fixed,
    Force,
    PhysicsError,
    Simulation,
    SphereIndenter,
    Velocity,
    make_law,
    stencil_offsets,
)

DX = 1e-3


def bar(nx=12, ny=4, nz=4, **kw) -> Body:
    return Body.from_occupancy(np.ones((nx, ny, nz), dtype=bool), DX, 7850.0, **kw)


def test_stencil_sizes():
    assert len(stencil_offsets(3.015, 3)) == 122
    assert len(stencil_offsets(2.015, 3)) == 32
    assert len(stencil_offsets(3.015, 2)) == 28
    with pytest.raises(PhysicsError):
        stencil_offsets(0.5, 3)


def test_calibration_interior_force_balance_and_energy():
    """Uniform strain: interior forces vanish and the bond energy density equals the continuum K-based one."""
    body = bar(9, 9, 9)
    law = PMB(youngs_modulus=200e9, surface_correction=False)
    law.setup(body)
    xi = body.lattice.stencil * DX
    length = np.linalg.norm(xi, axis=1)
    eps = 1e-4  # isotropic strain: every bond stretches by eps
    w = 0.5 * 0.5 * (law.c * eps**2 * length * body.particle_volume).sum()  # w = 1/2 sum c s^2 |xi| V / 2
    bulk = 200e9 / 1.5
    assert w == pytest.approx(4.5 * bulk * eps**2, rel=1e-6)  # 9/2 K eps^2 for volumetric strain 3 eps
    sim = Simulation(body, law)
    sim.u[:] = eps * (body.positions() - body.positions().mean(axis=0))
    sim._forces()
    interior = (np.abs(body.lattice.ijk - 4) <= 1).all(axis=1)
    assert np.abs(sim.force[interior]).max() < 1e-3 * np.abs(sim.force).max()


def test_make_law_by_name_and_bad_name():
    assert isinstance(make_law("pmb", youngs_modulus=1e9), PMB)
    with pytest.raises(PhysicsError, match="unknown force law"):
        make_law("nope")


def test_verlet_conserves_energy():
    """Kinetic + bond strain energy stays within 2 % of its start over 400 steps (velocity Verlet at half the
    stable step oscillates by about 1 %; a missing or doubled half kick drifts by 19-94 %), while energy really
    moves between the two."""
    body = bar(8, 4, 4)
    sim = Simulation(body, PMB(youngs_modulus=1e9))
    sim.v[:] = np.random.default_rng(0).normal(0.0, 0.01, sim.v.shape)
    mass = body.density * body.particle_volume

    def energies() -> tuple[float, float]:
        return 0.5 * mass * float((sim.v**2).sum()), float(sim.strain_energy_density().sum()) * body.particle_volume

    kinetic0, strain0 = energies()
    total0 = kinetic0 + strain0
    samples = []
    for _ in range(40):
        res = sim.run(10, safety=0.5)
        samples.append(energies())
    kinetic, strain = np.array(samples).T
    assert res.mean_damage == 0.0 and strain0 == 0.0
    assert np.abs((kinetic + strain) / total0 - 1.0).max() < 0.02
    assert strain.max() > 0.3 * total0 and kinetic.min() < 0.7 * total0  # the exchange the check is about


def test_deterministic():
    def go():
        body = bar(10, 4, 4)
        body.point_set("left", lambda x: x[:, 0] < 0.5e-3)
        body.point_set("right", lambda x: x[:, 0] > 8.5e-3)
        law = PMB(youngs_modulus=1e9, fracture_energy=1.0)
        sim = Simulation(body, law, [Fixed("left"), Velocity("right", (2.0, 0.0, 0.0))])
        return sim.run(300)

    a, b = go(), go()
    assert np.array_equal(a.displacement, b.displacement)
    assert np.array_equal(a.damage, b.damage)


def test_fracture_under_tension():
    body = bar(16, 3, 3)
    body.point_set("left", lambda x: x[:, 0] < 1.5e-3)
    body.point_set("right", lambda x: x[:, 0] > 13.5e-3)
    law = PMB(youngs_modulus=1e9, fracture_energy=0.5)
    sim = Simulation(body, law, [Fixed("left"), Velocity("right", (20.0, 0.0, 0.0))])
    res = sim.run(800)
    assert res.broken_bonds > 0
    assert res.damage.max() > 0.3
    # Without a fracture energy nothing breaks.
    sim2 = Simulation(body, PMB(youngs_modulus=1e9), [Fixed("left"), Velocity("right", (5.0, 0.0, 0.0))])
    assert sim2.run(300).broken_bonds == 0


def test_guard_stops_blow_up():
    body = bar(6, 3, 3)
    sim = Simulation(body, PMB(youngs_modulus=1e9))
    sim.v[:] = np.random.default_rng(1).normal(0.0, 1.0, sim.v.shape)
    with pytest.raises(PhysicsError, match="step"):
        sim.run(400, dt=50 * sim.stable_time_step(), check_every=5)


def test_fixed_and_displacement_conditions():
    body = bar(8, 3, 3)
    body.point_set("left", lambda x: x[:, 0] < 0.5e-3)
    body.point_set("right", lambda x: x[:, 0] > 6.5e-3)
    law = PMB(youngs_modulus=1e9)
    sim = Simulation(body, law, [Fixed("left"), Displacement("right", (1e-6, 0.0, 0.0), ramp_time=1e-6)])
    res = sim.run(200)
    assert np.all(res.displacement[body.sets["left"]] == 0.0)
    assert np.allclose(res.displacement[body.sets["right"], 0], 1e-6)
    assert res.displacement[:, 0].max() <= 1e-6 * 1.5


def test_force_condition_pulls_in_its_direction():
    body = bar(8, 3, 3)
    body.point_set("left", lambda x: x[:, 0] < 0.5e-3)
    body.point_set("right", lambda x: x[:, 0] > 6.5e-3)
    sim = Simulation(body, PMB(youngs_modulus=1e9), [Fixed("left"), Force("right", (0.0, 0.0, 10.0))])
    res = sim.run(100)
    assert res.displacement[body.sets["right"], 2].mean() > 0


def test_sphere_indenter_pushes_and_reports_reaction():
    body = bar(6, 6, 3)
    ind = SphereIndenter(
        center=(2.5e-3, 2.5e-3, 3.5e-3), radius=1.5e-3, stiffness=1e17, velocity=(0, 0, -5.0)
    )
    sim = Simulation(body, PMB(youngs_modulus=1e9), [ind])
    res = sim.run(100)
    assert res.displacement[:, 2].min() < 0
    assert ind.reaction[2] > 0  # particles push the sphere back up


def test_plane_stress_and_strain_2d_bodies():
    occ = np.ones((10, 10), dtype=bool)
    body = Body.from_occupancy(occ, DX, 1000.0, thickness=2e-3)
    assert body.dimension == 2 and body.lattice.bonds_per_particle == 28
    stress = PMB(youngs_modulus=1e9, plane="stress")
    strain = PMB(youngs_modulus=1e9, plane="strain")
    stress.setup(body)
    strain.setup(body)
    assert strain.c / stress.c == pytest.approx(6.4 / 6.0)
    # The same fracture energy through a stiffer bond: G0 = c s0^2 t delta^4 / 4 in both, so s0 scales as
    # sqrt(c_stress / c_strain) of the continuum constants (9 / pi vs 48 / (5 pi)): sqrt(15 / 16).
    tough = dict(youngs_modulus=1e9, fracture_energy=100.0)
    stress_f, strain_f = PMB(plane="stress", **tough), PMB(plane="strain", **tough)
    stress_f.setup(body)
    strain_f.setup(body)
    assert strain_f.s00 / stress_f.s00 == pytest.approx(math.sqrt(15.0 / 16.0))
    with pytest.raises(PhysicsError, match="thickness"):
        Body.from_occupancy(occ, DX, 1000.0)


def test_bad_input_errors():
    with pytest.raises(PhysicsError, match="empty"):
        Body.from_occupancy(np.zeros((3, 3, 3), bool), DX, 1000.0)
    with pytest.raises(PhysicsError, match="density"):
        Body.from_occupancy(np.ones((3, 3, 3), bool), DX, -1.0)
    body = bar(4, 3, 3)
    with pytest.raises(PhysicsError, match="selects no particle"):
        body.point_set("none", lambda x: x[:, 0] < -1.0)
    with pytest.raises(PhysicsError, match="no point set"):
        Simulation(body, PMB(youngs_modulus=1e9), [Fixed("missing")])
    with pytest.raises(PhysicsError, match="youngs_modulus"):
        PMB()


def test_runs_partition_the_particles():
    occ = np.random.default_rng(3).random((7, 6, 70)) < 0.8  # holes: many short runs, some longer than 64
    lat = Body.from_occupancy(occ, DX, 1000.0).lattice
    runs = lat.runs
    first, start, length, lanes = runs.T
    assert length.sum() == lat.count and np.array_equal(start, np.concatenate([[0], np.cumsum(length)[:-1]]))
    assert np.array_equal(first, lat.cells[start]) and length.max() <= 64
    assert all(
        np.array_equal(lat.cells[s : s + n], f + np.arange(n))
        for f, s, n in zip(first, start, length, strict=True)
    )
    assert ((lanes % 8 == 0) | (lanes == length)).all() and (lanes >= length).all()
    # Extra lanes stay inside the particle arrays and the padded grid, neighbours included.
    assert (start + lanes <= lat.count).all()
    assert (first + lanes - 1 + lat.flat_offset.max() < np.prod(lat.padded_shape)).all()
    chunks = lat.run_chunks
    assert chunks[0] == 0 and chunks[-1] == len(runs) and (np.diff(chunks) > 0).all()


def test_run_frame_orders_the_kernels_along_the_longest_runs():
    """A plate lying in xy: the kernels run along y (RunFrame), and forces, broken bonds and LPS's refresh are
    those of the lattice's own order (runs along z) to float32 rounding."""
    from physics.lattice import RunFrame

    occ = np.ones((6, 11, 2), dtype=bool)
    occ[2, 3:5, 1] = False  # a notch: runs of several lengths
    lat = Body.from_occupancy(occ, DX, 1000.0).lattice
    frame = lat.frame
    assert frame.axis == 1 and not frame.identity and lat.runs[:, 3].sum() > 1.4 * frame.runs[:, 3].sum()
    assert (np.diff(frame.cells) > 0).all() and np.array_equal(np.sort(frame.particle), np.arange(lat.count))
    assert np.array_equal(frame.grid_cells[frame.particle], frame.cells)
    # Bond b joins the same two particles on both grids.
    table = np.full(int(np.prod(frame.shape)), -1)
    table[frame.grid_cells] = np.arange(lat.count)
    assert np.array_equal(table[frame.grid_cells[:, None] + frame.flat_offset[None, :]], lat.neighbours())
    assert RunFrame.of(Body.from_occupancy(np.ones((4, 4, 9), bool), DX, 1000.0).lattice).identity
    rng = np.random.default_rng(5)
    u = 4e-3 * DX * rng.standard_normal((lat.count, 3))
    laws = (
        lambda: PMB(youngs_modulus=1e9, critical_stretch=2e-3),
        lambda: PMB(youngs_modulus=1e9, critical_stretch=2e-3, surface_correction=False),
        lambda: PMB(micromodulus=1e18, critical_stretch=2e-3, variant="lammps", alpha=0.25),
        lambda: make_law("lps", youngs_modulus=1e9, poisson_ratio=0.3, critical_stretch=2e-3),
    )
    for make, precision in [(make, None) for make in laws] + [(laws[0], "float64"), (laws[-1], "float64")]:
        runs = []
        for axis in (None, 2):
            body = Body.from_occupancy(occ, DX, 1000.0)
            if axis is not None:
                body.lattice.__dict__["frame"] = RunFrame.of(body.lattice, axis)
            sim = Simulation(body, make(), precision=precision)
            sim.u[:] = u
            out = []
            for _ in range(2):  # the second time after breaking: LPS refreshes the particles that lost bonds
                sim._forces()  # (LAMMPS's limits come from the first step's stretches)
                out.append((sim.force.copy(), sim.bits.copy(), sim.newly_broken.copy()))
            runs.append(out)
        for (f1, bits1, nb1), (f2, bits2, nb2) in zip(*runs, strict=True):
            assert np.array_equal(bits1, bits2) and np.array_equal(nb1, nb2)
            assert np.abs(f1 - f2).max() < 1e-5 * np.abs(f2).max()
        assert sum(int(nb.sum()) for _f, _b, nb in runs[0]) > 0


def _reference_forces(sim) -> np.ndarray:
    """Bond forces in float64 numpy, particle by particle from the stencil (no runs, no float32 grids)."""
    lat, law = sim.body.lattice, sim.law
    nbr = lat.neighbours()
    xi = lat.stencil * lat.spacing
    length = np.linalg.norm(xi, axis=1)
    j = np.where(nbr >= 0, nbr, 0)
    y = xi[None] + (sim.u[j] - sim.u[:, None, :])
    r = np.linalg.norm(y, axis=2)
    s = (r - length) / length
    weight = (
        law.coef.astype(np.float64) * law.bond_factors(np.arange(lat.count), j) * sim.body.particle_volume
    )
    return ((weight * s * (nbr >= 0) / r)[:, :, None] * y).sum(axis=1)


@pytest.mark.parametrize(
    ("shape", "params"),
    [
        ((9, 8, 13), {}),
        ((9, 8, 13), {"surface_correction": False}),
        ((9, 8, 13), {"variant": "lammps", "micromodulus": 1e22, "critical_stretch": 1.0}),
        ((14, 11), {}),
    ],
)
def test_run_kernels_match_a_plain_reference(shape, params):
    """Irregular bodies (holes, short runs, padded lanes): kernel forces equal a float64 per-bond sum."""
    occ = np.random.default_rng(5).random(shape) < 0.75
    body = Body.from_occupancy(occ, DX, 1000.0, thickness=DX if len(shape) == 2 else None)
    law = PMB(youngs_modulus=1e9, **params)
    sim = Simulation(body, law)
    sim.u[:, : body.dimension] = np.random.default_rng(6).normal(0.0, 1e-6, (body.count, body.dimension))
    sim._forces()
    ref = _reference_forces(sim)
    assert np.abs(sim.force - ref).max() < 2e-4 * np.abs(ref).max()


@pytest.mark.parametrize("dimension", [3, 2])
def test_multigrid_matches_adr_with_fewer_iterations(monkeypatch, dimension):
    """A clamped cantilever under a tip load: multigrid (forced on a small body) reaches ADR's deflection within
    1 % in far fewer evaluations of the law on the body."""
    from physics import multigrid, relaxation

    monkeypatch.setattr(multigrid, "MIN_COARSE", 60)
    shape = (24, 6, 6) if dimension == 3 else (64, 12)
    tips = {}
    steps = {}
    for mode in (False, True):
        kw = {} if dimension == 3 else {"thickness": DX}
        body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 1240.0, **kw)
        body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
        body.point_set("tip", lambda x: x[:, 0] > (shape[0] - 1.5) * DX)
        sim = Simulation(body, PMB(youngs_modulus=3.5e9), [Fixed("clamp"), Force("tip", value=(0, -5.0, 0))])
        info = relaxation.relax(sim, 40000, 1e-3 if mode else 1e-4, multigrid=mode)
        assert info["converged"]
        if mode:
            assert multigrid.solver_for(sim) is not None
        tips[mode] = sim.u[body.sets["tip"], 1].mean()
        steps[mode] = info["steps"]
    assert tips[True] == pytest.approx(tips[False], rel=0.01)
    assert steps[True] * 20 < steps[False]


def test_relax_recovers_from_divergence_with_the_safe_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fictitious mass far too small blows ADR up; relax starts over from the same state with Kilic &
    Madenci's margin and reaches the same tip deflection as a normal solve."""
    import physics.relaxation as relaxation
    from physics import Body, Fixed, Force, Simulation, make_law

    occ = np.ones((20, 4, 4), dtype=bool)
    ijk = np.argwhere(occ)
    body = Body.from_occupancy(occ, 1e-3, 1250.0)
    body.point_set("clamp", ijk[:, 0] < 2)
    body.point_set("tip", ijk[:, 0] == 19)
    law = make_law("pmb", youngs_modulus=3.5e9)

    def tip(margin: float) -> tuple[dict, float]:
        monkeypatch.setattr(relaxation, "MASS_MARGIN", margin)
        sim = Simulation(body, law, [Fixed("clamp"), Force("tip", (0.0, 0.0, -10.0))])
        res = relaxation.relax(sim, max_steps=20000, tolerance=1e-3, multigrid=False)
        return res, float(sim.u[ijk[:, 0] == 19, 2].mean())

    with pytest.raises(relaxation.Diverged):
        monkeypatch.setattr(relaxation, "SAFE_MARGIN", 0.05)
        tip(0.05)
    monkeypatch.setattr(relaxation, "SAFE_MARGIN", 5.0)
    recovered, u_recovered = tip(0.05)
    normal, u_normal = tip(2.0)
    assert recovered["converged"] and normal["converged"]
    assert u_recovered == pytest.approx(u_normal, rel=0.01)


def _cantilever_2d(scale=None):
    occ = np.ones((16, 5), dtype=bool)
    body = Body.from_occupancy(occ, 1e-3, 1240.0, thickness=3e-3)
    ij = np.argwhere(occ)
    body.point_set("held", ij[:, 0] == 0)
    body.point_set("tip", ij[:, 0] == 15)
    law = make_law("pmb", youngs_modulus=3.5e9, plane="stress", stiffness_scale=scale)
    sim = Simulation(body, law, [Fixed("held"), Force("tip", (0.0, -10.0, 0.0))])
    sim.relax(max_steps=20000, tolerance=1e-5)
    return sim, ij


def test_pmb_stiffness_scale_weights_each_bond_by_its_ends() -> None:
    plain, ij = _cantilever_2d()
    n = len(ij)
    tip = ij[:, 0] == 15
    ones, _ = _cantilever_2d(np.ones(n))
    np.testing.assert_allclose(ones.u[tip, 1].mean(), plain.u[tip, 1].mean(), rtol=2e-3)
    # w = sqrt(1/2) everywhere: every bond half as stiff, twice the deflection and the strain energy.
    half, _ = _cantilever_2d(np.full(n, 0.5**0.5))
    np.testing.assert_allclose(half.u[tip, 1].mean(), 2 * plain.u[tip, 1].mean(), rtol=2e-3)
    np.testing.assert_allclose(
        half.strain_energy_density().sum(), 2 * plain.strain_energy_density().sum(), rtol=5e-3
    )
    # A soft lower half (w = 0.05): the bond factors are w_i w_j, the beam is more compliant than the plain one.
    w = np.where(ij[:, 1] < 2, 0.05, 1.0)
    soft, _ = _cantilever_2d(w)
    law = soft.law
    ids = np.arange(soft.body.count)
    nb = soft.body.lattice.neighbours()
    ok = nb >= 0
    j = np.where(ok, nb, 0)
    expected = plain.law.bond_factors(ids, j) * w[:, None] * w[j]
    np.testing.assert_allclose(law.bond_factors(ids, j)[ok], expected[ok], rtol=1e-5)
    assert soft.u[tip, 1].mean() < 1.2 * plain.u[tip, 1].mean()
    with pytest.raises(PhysicsError, match="stiffness_scale"):
        _cantilever_2d(np.ones(n - 1))
    with pytest.raises(PhysicsError, match="surface_correction"):
        make_law("pmb", youngs_modulus=1e9, surface_correction=False, stiffness_scale=np.ones(3))


def _intact(bits: np.ndarray, nb: int) -> np.ndarray:
    """(n, nb) bool: bond b of particle i intact."""
    b = np.arange(nb)
    return ((bits[b >> 5].T >> (b & 31).astype(np.uint32)) & 1).astype(bool)


def test_lammps_variant_alpha_rule_and_contact_between_all_stencil_pairs():
    """The LAMMPS variant on a crushed, partly cut body: contact pushes apart every close stencil pair, bonded or
    cut (float64 reference); after a step each particle's limit is s00 - alpha * (least stretch of its intact
    bonds), and the next step breaks exactly the bonds stretched past min(s_i, s_j)."""
    occ = np.random.default_rng(7).random((8, 7, 9)) < 0.8
    body = Body.from_occupancy(occ, DX, 1000.0)
    s00, alpha = 0.05, 0.5
    law = PMB(variant="lammps", micromodulus=1e22, critical_stretch=s00, alpha=alpha)
    sim = Simulation(body, law)
    lat = body.lattice
    nbr = lat.neighbours()
    nb = nbr.shape[1]
    rng = np.random.default_rng(8)
    sim.u[:] = rng.normal(0.0, 0.12 * DX, sim.u.shape)  # enough to bring neighbours inside the contact distance
    cut = rng.random(nbr.shape) < 0.3  # cut 30 % of the bonds: contact must still act across them
    for b in range(nb):
        sim.bits[b >> 5, cut[:, b]] &= ~np.uint32(1 << (b & 31))
    intact0 = _intact(sim.bits, nb) & (nbr >= 0)

    xi = lat.stencil * lat.spacing
    length = np.linalg.norm(xi, axis=1)
    j = np.where(nbr >= 0, nbr, 0)
    y = xi[None] + (sim.u[j] - sim.u[:, None, :])
    r = np.linalg.norm(y, axis=2)
    s = (r - length) / length
    vol = body.particle_volume
    bond = law.coef.astype(np.float64) * vol * s * intact0 / r
    gap = np.minimum(r - law.contact_d.astype(np.float64), 0.0) * (nbr >= 0)
    contact = law.contact_k * vol * gap / r
    assert (gap < 0).sum() > 100 and ((gap < 0) & ~intact0 & (nbr >= 0)).sum() > 30
    ref = ((bond + contact)[:, :, None] * y).sum(axis=1)
    ref_no_contact = (bond[:, :, None] * y).sum(axis=1)

    sim._forces()
    scale = np.abs(ref).max()
    assert np.abs(sim.force - ref).max() < 2e-4 * scale
    assert np.abs(ref - ref_no_contact).max() > 0.1 * scale  # contact is a real part of these forces
    assert _intact(sim.bits, nb).sum() == intact0.sum()  # unbounded limits at the first step: nothing breaks
    smin = np.where(intact0, s, np.inf).min(axis=1)
    limit = s00 - alpha * smin
    got = law.s_grid[law.grid_cells].astype(np.float64)
    assert np.allclose(got, limit, rtol=0, atol=1e-5)
    assert np.ptp(limit) > 0.05  # particles really have their own limits

    sim._forces()
    lim = np.minimum(limit[:, None], limit[j])
    expect = intact0 & ~(s > lim)
    margin = np.abs(s - lim) > 1e-5  # leave out float32 ties
    after = _intact(sim.bits, nb)
    assert (after == expect)[margin].all()
    assert (intact0 & ~expect).sum() > 20  # bonds did break by the rule
    # With a single limit s00 (no alpha rule) a different set would break.
    assert ((intact0 & ~(s > s00)) != expect).sum() > 20
