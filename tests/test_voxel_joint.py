"""The voxel-joint law (6-DOF voxels, beam-like breakable joints): kernel, statics, dynamics, failure, part types.

Small N; the full validation is benchmarks/validation_joints.py.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import validation_joints as vj  # noqa: E402

from fab.errors import FabError  # noqa: E402
from fab.part_types import get_part_type, load_part_types  # noqa: E402
from physics import Body, Fixed, Force, Gravity, PhysicsError, Simulation, VoxelJoint  # noqa: E402
from physics.laws.voxel_joint_kernels import quaternions_from_rotvecs  # noqa: E402

A = 0.01
LAW = dict(axial_stiffness=1e6, shear_stiffness=3e5, bending_stiffness=20.0, torsion_stiffness=15.0)


def block(shape=(3, 3, 2), **law):
    body = Body.from_occupancy(np.ones(shape, bool), A, 1000.0, horizon_cells=1.0)
    return body, VoxelJoint(**{**LAW, **law})


def test_kernel_linearisation_is_the_element_matrix():
    body, law = block()
    sim = Simulation(body, law)
    n = body.count
    d = np.random.default_rng(0).normal(size=6 * n) * 1e-7
    sim.u[:] = d.reshape(n, 6)[:, :3]
    quaternions_from_rotvecs(np.ascontiguousarray(d.reshape(n, 6)[:, 3:]), sim.q)
    law.compute(sim)
    kernel = np.column_stack([sim.force, sim.torque]) * law.volume
    linear = -(law.stiffness_matrix(n) @ d).reshape(n, 6)
    assert np.abs(kernel - linear).max() < 1e-5 * np.abs(linear).max()


def test_rigid_rotation_makes_no_force():
    body, law = block()
    sim = Simulation(body, law)
    x = body.positions()
    r = np.array([0.3, -0.8, 0.5])  # about 55 degrees
    q = np.zeros((1, 4))
    quaternions_from_rotvecs(r[None, :], q)
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_rotvec(r)
    sim.u[:] = rot.apply(x - x.mean(axis=0)) + x.mean(axis=0) - x
    sim.q[:] = q
    law.compute(sim)
    assert np.abs(sim.force).max() * law.volume < 1e-9 * LAW["axial_stiffness"] * A


def test_wrong_lattice_is_refused():
    body = Body.from_occupancy(np.ones((3, 3, 3), bool), A, 1000.0)  # peridynamic horizon
    with pytest.raises(PhysicsError, match="horizon_cells=1.0"):
        Simulation(body, VoxelJoint(**LAW))


@pytest.mark.parametrize("n", [5, 8])
def test_cantilever_matches_timoshenko(n):
    rows = vj.case_cantilever(n)
    assert all(abs(r["error"]) < 1e-6 for r in rows)


def test_frequency_matches_the_chain_and_tends_to_euler_bernoulli():
    measured, eb, discrete, _ = vj.measure_frequency(6, periods=1.5)
    assert measured == pytest.approx(discrete, rel=0.01)
    assert measured < eb and measured > 0.75 * eb  # lumped masses: 1/N below the continuum


def test_block_modulus_is_axial_stiffness_over_pitch():
    (row,) = vj.case_block(n=3)
    assert row["pass"] and abs(row["error"]) < 1e-9


def test_stress_and_strain_energy_of_a_block_in_compression():
    """n^3 voxels on a held bottom layer, a total force on the top: each column's joints carry total / n^2, the
    virial stress inside is that over a^2, and the strain energy adds up to the work of the load."""
    n, total = 3, 60.0
    body = Body.from_occupancy(np.ones((n, n, n), bool), A, 1000.0, horizon_cells=1.0)
    body.point_set("bottom", lambda x: x[:, 2] < 0.5 * A)
    body.point_set("top", lambda x: x[:, 2] > (n - 1.5) * A)
    law = VoxelJoint(**LAW)
    sim = Simulation(body, law, [Fixed("bottom"), Force("top", (0.0, 0.0, -total))])
    sim.relax()
    sigma = sim.stress()
    middle = np.flatnonzero(np.isclose(body.positions()[:, 2], 1.0 * A))
    expected = np.zeros((3, 3))
    expected[2, 2] = -total / (n * A) ** 2
    np.testing.assert_allclose(sigma[middle], np.broadcast_to(expected, (len(middle), 3, 3)), atol=1e-9 * total / A**2)
    energy = float(sim.strain_energy_density().sum()) * body.particle_volume
    work = 0.5 * float(-(total / n**2) * sim.u[body.indices("top"), 2].sum())
    assert energy == pytest.approx(work, rel=1e-9)
    per_joint = (total / n**2) ** 2 / (2.0 * LAW["axial_stiffness"])
    assert sim.strain_energy_density()[middle] == pytest.approx(per_joint / body.particle_volume, rel=1e-9)


def test_root_joint_breaks_at_strength_over_lever_arm():
    (row,) = vj.case_root_break(4)
    assert row["error"] == pytest.approx(0.0, abs=1e-6)
    law, a, rho = vj.part_law()
    sim, _ = vj.cantilever(4, law, a, rho, 1.0)
    info = law.failure(sim)
    assert info["collapsed"] and info["events"][0][1] == 0  # the root joint goes first
    assert info["failure_factor"] == pytest.approx(vj.root_break_load(4, law, a))
    assert sim.fragments()[0] == 2
    assert sim.damage()[0] == 1.0  # the clamped voxel lost its only joint


def test_dynamic_break_under_a_ramped_load():
    (row,) = vj.case_dynamic_break(n=3, ramp_periods=15.0)
    assert abs(row["error"]) < 0.05


def test_gravity_on_a_column_and_a_loose_piece():
    body = Body.from_occupancy(np.ones((1, 1, 4), bool), A, 2000.0, horizon_cells=1.0)
    body.point_set("base", lambda x: x[:, 2] < 0.5 * A)
    law = VoxelJoint(**LAW)
    sim = Simulation(body, law, [Fixed("base"), Gravity()])
    sim.relax()
    weight = 2000.0 * A**3 * 9.81
    # the joint above the base carries the three voxels above it, in compression
    assert law.section[law.ji == 0, 0][0] == pytest.approx(-3 * weight)
    assert sim.reaction("base")[2] == pytest.approx(3 * weight, rel=1e-9)
    occ = np.zeros((1, 1, 4), bool)
    occ[0, 0, [0, 2, 3]] = True
    body = Body.from_occupancy(occ, A, 2000.0, horizon_cells=1.0)
    body.point_set("base", lambda x: x[:, 2] < 0.5 * A)
    sim = Simulation(body, VoxelJoint(**LAW), [Fixed("base"), Gravity()])
    with pytest.raises(PhysicsError, match="loose piece"):
        sim.relax()


def test_explicit_step_is_stable_and_conserves_energy():
    body = Body.from_occupancy(np.ones((4, 2, 1), bool), A, 1000.0, horizon_cells=1.0)
    law = VoxelJoint(**LAW)
    sim = Simulation(body, law)
    rng = np.random.default_rng(1)
    sim.v[:] = rng.normal(size=sim.v.shape) * 1e-3
    sim.w[:] = rng.normal(size=sim.w.shape) * 1e-1
    e0 = law.kinetic_energy(sim)
    # at 0.9 x the stable step the run stays bounded; the energy is checked at a tenth of it (Verlet's energy
    # error goes as (omega dt)^2)
    sim.run(300, sim.stable_time_step(0.9))
    assert np.isfinite(sim.u).all() and law.kinetic_energy(sim) < 2 * e0
    sim = Simulation(body, law)
    sim.v[:] = rng.normal(size=sim.v.shape) * 1e-3
    sim.w[:] = rng.normal(size=sim.w.shape) * 1e-1
    e0 = law.kinetic_energy(sim)
    sim.run(2000, sim.stable_time_step(0.1))
    law.compute(sim)
    # elastic energy of the linear joints at this state (small displacements)
    from physics.laws.voxel_joint_kernels import rotvecs_from_quaternions

    r = np.zeros((body.count, 3))
    rotvecs_from_quaternions(sim.q, r)
    d = np.column_stack([sim.u, r]).ravel()
    elastic = 0.5 * d @ (law.stiffness_matrix(body.count) @ d)
    assert law.kinetic_energy(sim) + elastic == pytest.approx(e0, rel=0.01)


def test_mixed_part_types_join_in_series():
    body = Body.from_occupancy(np.ones((2, 1, 1), bool), A, 1000.0, horizon_cells=1.0)
    law = VoxelJoint(axial_stiffness=[1e6, 3e6], bending_stiffness=[1.0, 1.0], torsion_stiffness=1.0,
                     bending_strength=[5.0, 2.0], types=np.array([0, 1]))  # fmt: skip
    Simulation(body, law)
    assert law.ka[0] == pytest.approx(2 * 1e6 * 3e6 / 4e6)
    assert law.strength[0, 2] == 2.0


def test_part_types_builtin_and_file(tmp_path):
    pt = get_part_type("PLA-10mm-bonded")
    p = pt.law_parameters()
    a = 0.01
    assert p["axial_stiffness"] == pytest.approx(pt.material.youngs_modulus * a)
    assert p["bending_strength"] == pytest.approx(pt.material.tensile_strength * a**3 / 6)
    assert pt.mass_kg == pytest.approx(pt.material.density * a**3)
    f = tmp_path / "types.toml"
    f.write_text('[v]\nmaterial = "PETG"\npitch_mm = 20\nfill = 0.3\njoint = "snap"\nbending_strength = 2.5\n')
    types = load_part_types(f)
    assert types["v"].law_parameters()["bending_strength"] == 2.5
    assert math.isclose(types["v"].mass_kg, 0.3 * types["v"].material.density * 0.02**3)
    f.write_text('[v]\nmaterial = "PETG"\npitch_mm = 20\njoint = "glue"\n')
    with pytest.raises(FabError, match="'joint' must be one of"):
        load_part_types(f)
    with pytest.raises(FabError, match="did you mean"):
        get_part_type("PLA-20mm-boltd")


def test_twisted_column_carries_the_torsion_of_its_joints():
    from physics import Rotation

    body = Body.from_occupancy(np.ones((1, 1, 6), bool), A, 1000.0, horizon_cells=1.0)
    body.point_set("base", lambda x: x[:, 2] < 0.5 * A)
    body.point_set("top", lambda x: x[:, 2] > 4.5 * A)
    law = VoxelJoint(**LAW)
    twist = Rotation("top", angle=0.01, point=(0.0, 0.0, 5 * A), axis=(0.0, 0.0, 1.0))
    Simulation(body, law, [Fixed("base"), twist]).relax()
    # five joints in series between the held ends
    np.testing.assert_allclose(law.section[:, 3], LAW["torsion_stiffness"] * 0.01 / 5, rtol=1e-9)
