"""The float64 engine path (Simulation(precision="float64")): the bond kernels compiled for float64, on tiny
bodies. float32 stays the default and computes exactly as before."""

from __future__ import annotations

import numpy as np
import pytest

from physics import Body, Fixed, Force, PhysicsError, Simulation, make_law, multigrid, newton, relaxation

DX = 1e-3


def _bar(shape, law, precision=None, force=(0.0, 0.0, -20.0)) -> Simulation:
    body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 2700.0)
    body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
    body.point_set("tip", lambda x: x[:, 0] > (shape[0] - 1.5) * DX)
    return Simulation(body, law, [Fixed("clamp"), Force("tip", value=force)], precision=precision)


def _residual(sim) -> tuple[float, float]:
    f = relaxation.out_of_balance(sim)
    return relaxation.residual_of(sim, f), relaxation.imbalance(sim)


def test_float64_static_solve_reaches_a_residual_float32_cannot():
    """Newton to 1e-9 of the bond forces: the float32 kernels cannot resolve it (the solve fails), the float64
    ones get there in a few iterations, at the deflection the float32 solve converges to at its own floor."""
    shape = (10, 3, 3)
    loose = _bar(shape, make_law("pmb", youngs_modulus=70e9))
    assert newton.solve(loose, tolerance=1e-4, balance=1e-4)["converged"]
    single = _bar(shape, make_law("pmb", youngs_modulus=70e9))
    assert single.ux.dtype == np.float32 and single.law.xix.dtype == np.float32  # the default is unchanged
    assert not newton.solve(single, tolerance=1e-9, balance=1e-9)["converged"]
    double = _bar(shape, make_law("pmb", youngs_modulus=70e9), precision="float64")
    assert double.ux.dtype == np.float64 and double.internal.dtype == np.float64
    info = newton.solve(double, tolerance=1e-9, balance=1e-9)
    assert info["converged"] and info["iterations"] <= 8
    residual, imbalance = _residual(double)
    assert residual < 1e-9 and imbalance < 1e-9
    tip = double.body.sets["tip"]
    assert double.u[tip, 2].mean() == pytest.approx(loose.u[tip, 2].mean(), rel=1e-3)


@pytest.mark.parametrize(
    "name, params",
    [
        ("pmb", dict(youngs_modulus=70e9, critical_stretch=4e-3)),
        ("lps", dict(youngs_modulus=70e9, poisson_ratio=0.3, critical_stretch=4e-3)),
    ],
)
def test_float64_forces_agree_with_float32_and_break_the_same_bonds(name, params):
    """The same law in both types on a holed block at random displacements: forces within float32's resolution
    of the float64 ones, and the same bonds broken (none near the limit, so rounding cannot split them)."""
    occ = np.ones((8, 6, 5), dtype=bool)
    occ[3:5, 2:4, 1:3] = False
    rng = np.random.default_rng(3)
    u = rng.normal(scale=1.5e-6, size=(int(occ.sum()), 3))
    u[:40, 0] += 1e-5  # stretches far past the limit: these bonds break in both types
    forces, bits = {}, {}
    for precision in ("float32", "float64"):
        sim = Simulation(Body.from_occupancy(occ, DX, 2700.0), make_law(name, **params), precision=precision)
        sim.u[:] = u
        for _ in range(2):  # LAMMPS's alpha rule sets the limits from the first evaluation's stretches
            relaxation.out_of_balance(sim)
        forces[precision], bits[precision] = sim.force.copy(), sim.bits.copy()
        assert sim.law.xix.dtype == np.dtype(precision)
    scale = np.abs(forces["float64"]).max()
    assert np.abs(forces["float32"] - forces["float64"]).max() < 1e-4 * scale
    assert np.array_equal(bits["float32"], bits["float64"])
    assert not np.array_equal(bits["float64"], sim.law.initial_bonds(sim.body))  # some did break


def test_float64_multigrid_and_lps_reach_a_tight_residual(monkeypatch):
    """The multigrid solver on an LPS body in float64 (its coarse levels stay float32: a preconditioner) meets a
    residual the float32 evaluation cannot."""
    monkeypatch.setattr(multigrid, "MIN_COARSE", 40)
    # A breaking stretch no bond reaches: the same float64 kernel specialisation as the test above (one compile).
    law = make_law("lps", youngs_modulus=70e9, poisson_ratio=0.3, critical_stretch=0.5)
    sim = _bar((24, 4, 4), law, "float64")
    info = relaxation.relax(sim, 4000, 1e-8, multigrid=True, balance=1e-8)
    assert info["converged"] and multigrid.solver_for(sim) is not None
    residual, imbalance = _residual(sim)
    assert residual < 1e-8 and imbalance < 1e-8


def test_precision_is_checked():
    with pytest.raises(PhysicsError, match="precision must be one of"):
        _bar((4, 2, 2), make_law("pmb", youngs_modulus=70e9), precision="float16")
    joint = make_law("voxel_joint")
    with pytest.raises(PhysicsError, match="float32 only"):
        joint.use_precision("float64")


@pytest.mark.parametrize("name", ["pmb", "lps"])
def test_a_float32_solve_finishes_in_float64(name):
    """The last iterations in float64: a float32 Newton solve at its own tolerance, then set_precision("float64")
    on the same simulation (tables keep their values, solvers are rebuilt) meets 1e-9 in a few more iterations."""
    params = dict(youngs_modulus=70e9, critical_stretch=0.5)  # never reached; compiled once (above)
    if name == "lps":
        params["poisson_ratio"] = 0.3
    sim = _bar((10, 3, 3), make_law(name, **params))
    assert newton.solve(sim, tolerance=1e-4, balance=1e-4)["converged"]
    coef = sim.law.coef.copy()
    sim.set_precision("float64")
    assert sim.ux.dtype == np.float64 and sim.law.coef.dtype == np.float64
    assert np.array_equal(sim.law.coef, coef.astype(np.float64))  # the same model
    info = newton.solve(sim, tolerance=1e-9, balance=1e-9)
    assert info["converged"] and info["iterations"] <= 4
    residual, imbalance = _residual(sim)
    assert residual < 1e-9 and imbalance < 1e-9


def test_a_stress_test_tighter_than_float32_runs_in_float64():
    """fab: a static test asked for a tolerance float32 cannot resolve computes its bond forces in float64 (and
    says so), converges, and lands on the default test's deflection; the default stays float32 (no note)."""
    import cadquery as cq

    from fab.stress import stress_test

    beam = cq.Workplane().box(12, 3, 3, centered=(False, True, True))
    args = dict(material="Al6061-T6", pitch=1.0, fix="<X", load=">X:force=0,0,-20", model="pmb")
    default = stress_test(beam, **args)
    tight = stress_test(beam, **args, tolerance=1e-8)
    assert default.converged and tight.converged
    assert not any("float64" in n for n in default.notes)
    assert any("computed in float64" in n for n in tight.notes)
    assert tight.residual < 1e-6  # the last residual the progress saw, below float32's floor already
    tip = default.points_mm[:, 0] > 11
    assert tight.displacement_mm[tip, 2].mean() == pytest.approx(default.displacement_mm[tip, 2].mean(), rel=2e-3)
