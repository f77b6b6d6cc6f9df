"""The linear peridynamic solid (state-based, any Poisson ratio) on small lattices (SI units)."""

from __future__ import annotations

import numpy as np
import pytest

from physics import Body, Fixed, Force, PhysicsError, Simulation, Velocity, make_law
from physics.laws.lps import LPS

DX = 1e-3
E = 70e9
RHO = 2700.0


def hooke(law: LPS, eps: np.ndarray) -> np.ndarray:
    bulk = E / (3 * (1 - 2 * law.poisson_ratio))
    g = law.shear_modulus
    return bulk * np.trace(eps) * np.eye(3) + 2 * g * (eps - np.trace(eps) / 3 * np.eye(3))


def test_interior_obeys_hookes_law_for_any_uniform_strain():
    # 13^3: the centre is two horizons from every face, so it and all its neighbours have full families.
    body = Body.from_occupancy(np.ones((13, 13, 13), dtype=bool), DX, RHO)
    law = LPS(E, 0.33)
    sim = Simulation(body, law)
    rng = np.random.default_rng(4)
    eps = rng.normal(0.0, 1e-6, (3, 3))
    eps = 0.5 * (eps + eps.T)
    sim.u[:] = (body.positions() - body.positions().mean(axis=0)) @ eps.T
    sim._forces()
    centre = np.flatnonzero((body.lattice.ijk == 6).all(axis=1))[0]
    sigma = sim.stress()[centre]
    expected = hooke(law, eps)
    assert np.abs(sigma - expected).max() < 1e-4 * np.abs(expected).max()
    assert sim.strain_energy_density()[centre] == pytest.approx(0.5 * (expected * eps).sum(), rel=1e-4)
    # The force density at the centre vanishes (up to float32 rounding of the displacement grid).
    scale = np.abs(expected).max() / DX
    assert np.abs(sim.force[centre]).max() < 1e-3 * scale


def tension_bar(nu: float, side: int = 6, length: int = 30) -> tuple[float, float]:
    """(E measured / E, lateral contraction / axial strain) of a bar relaxed under an end force."""
    body = Body.from_occupancy(np.ones((length, side, side), dtype=bool), DX, RHO)
    x = body.positions()
    body.point_set("left", x[:, 0] < 0.5 * DX)
    body.point_set("right", x[:, 0] > (length - 1.5) * DX)
    force = 1e3
    sim = Simulation(body, LPS(E, nu), [Fixed("left"), Force("right", (force, 0.0, 0.0))])
    res = sim.relax(max_steps=5000, tolerance=1e-3)
    assert res.history["converged"] == [True]
    mid = (x[:, 0] > 8 * DX) & (x[:, 0] < (length - 8) * DX)
    axial = np.polyfit(x[mid, 0], res.displacement[mid, 0], 1)[0]
    lateral = np.polyfit(x[mid, 1], res.displacement[mid, 1], 1)[0]
    assert sim.reaction("left")[0] == pytest.approx(-force, rel=0.02)
    return force / (side * DX) ** 2 / axial / E, -lateral / axial


@pytest.mark.parametrize("nu", [0.33, 0.2])
def test_tension_bar_recovers_youngs_modulus_and_poisson_ratio(nu):
    # Measured: E +1.6 % / +1.4 %, nu 0.338 / 0.205 (6 x 6 cells across, surface correction on).
    e_ratio, nu_measured = tension_bar(nu)
    assert e_ratio == pytest.approx(1.0, abs=0.04)
    assert nu_measured == pytest.approx(nu, rel=0.06)


def test_plane_stress_strip():
    nx, ny, thickness = 40, 8, 2e-3
    body = Body.from_occupancy(np.ones((nx, ny), dtype=bool), DX, RHO, thickness=thickness)
    x = body.positions()
    body.point_set("left", x[:, 0] < 0.5 * DX)
    body.point_set("right", x[:, 0] > (nx - 1.5) * DX)
    force = 1e3
    sim = Simulation(body, LPS(E, 0.33, plane="stress"), [Fixed("left"), Force("right", (force, 0.0, 0.0))])
    res = sim.relax(max_steps=5000, tolerance=1e-3)
    mid = (x[:, 0] > 10 * DX) & (x[:, 0] < (nx - 10) * DX)
    axial = np.polyfit(x[mid, 0], res.displacement[mid, 0], 1)[0]
    lateral = np.polyfit(x[mid, 1], res.displacement[mid, 1], 1)[0]
    area = ny * DX * thickness
    # Measured: E +3.2 %, nu 0.309 (8 particles across), mean sigma_xx -0.5 %.
    assert force / area / axial / E == pytest.approx(1.0, abs=0.05)
    assert -lateral / axial == pytest.approx(0.33, rel=0.10)
    assert sim.stress()[mid, 0, 0].mean() == pytest.approx(force / area, rel=0.03)
    assert np.abs(sim.stress()[:, 2, :]).max() == 0.0  # plane stress: no out-of-plane stress


def test_cantilever_tip_deflection_plane_stress():
    """Beam clamped over 3 columns, tip load; P L^3 / (3 E I) + P L / (k G A) (REFERENCE.md section 3)."""
    length, height, clamp, width = 24, 6, 3, 4e-3
    nx = length + clamp
    body = Body.from_occupancy(np.ones((nx, height), dtype=bool), DX, RHO, thickness=width)
    x = body.positions()[:, 0]
    body.point_set("clamp", x < (clamp - 0.5) * DX)
    body.point_set("tip", x > (nx - 1.5) * DX)
    load, nu = 50.0, 0.33
    sim = Simulation(body, LPS(E, nu, plane="stress"), [Fixed("clamp"), Force("tip", (0.0, -load, 0.0))])
    res = sim.relax(max_steps=20000, tolerance=1e-3)
    assert res.history["converged"] == [True]
    h = height * DX
    inertia, area = width * h**3 / 12, width * h
    span = (nx - 1 - (clamp - 0.5)) * DX
    ref = load * span**3 / (3 * E * inertia) + load * span / (5 / 6 * E / (2 * (1 + nu)) * area)
    measured = -res.displacement[body.sets["tip"], 1].mean()
    assert measured == pytest.approx(ref, rel=0.10)


def test_notched_plate_cracks_from_the_notch():
    nx, ny = 40, 20
    occ = np.ones((nx, ny), dtype=bool)
    occ[nx // 2, : ny // 4] = False  # a notch one cell wide, a quarter of the height deep
    body = Body.from_occupancy(occ, DX, RHO, thickness=DX)
    x = body.positions()
    body.point_set("left", x[:, 0] < 1.5 * DX)
    body.point_set("right", x[:, 0] > (nx - 2.5) * DX)
    law = LPS(E, 0.33, fracture_energy=500.0, plane="stress")
    # Pulled slowly enough (strain rate 15/s) for the crack to outrun the loading; measured: first breaks near
    # step 600 at the notch tip, the plate in two pieces by step 800, damage within 5 cells of the notch.
    pull, ramp = 0.3, 10e-6  # m/s each way, reached smoothly
    conds = [Velocity("left", (-pull, 0, 0), ramp_time=ramp), Velocity("right", (pull, 0, 0), ramp_time=ramp)]
    sim = Simulation(body, law, conds)
    assert sim.run(500).broken_bonds == 0
    res = sim.run(400)
    assert res.broken_bonds > 0
    damaged = res.damage > 0.3
    assert np.abs(x[damaged, 0] - (nx // 2) * DX).max() < 6 * DX
    assert damaged[x[:, 1] > (ny - 2) * DX].any()  # the crack crossed the ligament
    assert sim.fragments()[0] >= 2


def test_energy_is_conserved_by_velocity_verlet():
    body = Body.from_occupancy(np.ones((8, 5, 4), dtype=bool), DX, RHO)
    sim = Simulation(body, LPS(E, 0.33))
    sim.v[:] = np.random.default_rng(2).normal(0.0, 0.01, sim.v.shape)
    mass = body.density * body.particle_volume

    def total() -> float:
        return 0.5 * mass * (sim.v**2).sum() + sim.strain_energy_density().sum() * body.particle_volume

    e0 = total()
    sim.run(300, safety=0.5)
    assert total() == pytest.approx(e0, rel=0.02)


def test_deterministic_and_registered():
    body = Body.from_occupancy(np.ones((6, 4, 4), dtype=bool), DX, RHO)
    runs = []
    for _ in range(2):
        sim = Simulation(body, make_law("lps", youngs_modulus=E, poisson_ratio=0.3))
        sim.v[:] = np.random.default_rng(1).normal(0.0, 0.1, sim.v.shape)
        runs.append(sim.run(50).displacement)
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"youngs_modulus": -1.0, "poisson_ratio": 0.3}, "youngs_modulus"),
        ({"youngs_modulus": E, "poisson_ratio": 0.5}, "poisson_ratio"),
        ({"youngs_modulus": E, "poisson_ratio": 0.3, "plane": "shell"}, "plane"),
        ({"youngs_modulus": E, "poisson_ratio": 0.3, "fracture_energy": 0.0}, "fracture_energy"),
    ],
)
def test_bad_parameters_are_one_line_errors(kwargs, message):
    with pytest.raises(PhysicsError, match=message):
        LPS(**kwargs)


@pytest.mark.parametrize("dimension, precision", [(3, "float64"), (2, "float32")])
def test_stress_kernel_is_the_numpy_formula(dimension, precision):
    """LPS.stress (one numba pass) against the chunked numpy states it replaced (_states, still the strain
    energy's): a damaged random body under a random strain, 3D and plane strain, float64 and float32 tables."""
    rng = np.random.default_rng(8)
    shape = (9, 7) if dimension == 2 else (8, 6, 5)
    occ = rng.random(shape) > 0.1
    body = Body.from_occupancy(occ, 1e-3, 2700.0, thickness=1e-3 if dimension == 2 else None)
    law = LPS(E, 0.3, plane="strain") if dimension == 2 else LPS(E, 0.3)
    sim = Simulation(body, law, precision=precision)
    sim.bits &= rng.integers(0, 2**32, sim.bits.shape, dtype=np.uint32) | np.uint32(0xFFFF0FFF)  # some broken
    sim.u[:] = rng.normal(0.0, 1e-6, sim.u.shape)
    if dimension == 2:
        sim.u[:, 2] = 0.0
    law.refresh(sim.bits)
    reference = np.zeros((body.count, 3, 3))
    for sl, y, r, vw, theta, _beta, _ed, t in law._states(sim):
        reference[sl] = np.einsum("mba,bc->mac", (vw * t / np.maximum(r, 1e-300))[:, :, None] * y, law._xi)
        if dimension == 2:
            nu = law.poisson_ratio
            reference[sl, 2, 2] = E * nu / ((1 + nu) * (1 - 2 * nu)) * theta
    got = law.stress(sim)
    assert np.abs(got - reference).max() <= 1e-12 * np.abs(reference).max()
    assert np.abs(reference).max() > 0
