"""Newton-Krylov statics and the failure load path (physics/newton.py) on tiny bodies."""

from __future__ import annotations

import numpy as np
import pytest

from physics import Body, Fixed, Force, Simulation, make_law, newton, relaxation

DX = 1e-3


def _bar(shape, law, force) -> Simulation:
    body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 2700.0)
    body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
    body.point_set("tip", lambda x: x[:, 0] > (shape[0] - 1.5) * DX)
    return Simulation(body, law, [Fixed("clamp"), Force("tip", value=force)])


def test_newton_meets_relax_criterion_and_agrees_with_adr_at_a_large_rotation():
    """A slender cantilever bent to a tip rotation of about 0.1 rad: Newton meets relax's criterion (residual and
    balance) in a few iterations on the real law and lands on ADR's deflection within 1 %."""
    law = make_law("pmb", youngs_modulus=70e9)
    shape, load = (20, 3, 3), (0.0, 0.0, -250.0)
    sim = newton_sim = _bar(shape, law, load)
    res = newton.solve(newton_sim, tolerance=2e-3, balance=5e-3)
    assert res["converged"] and res["iterations"] <= 12
    relaxation.out_of_balance(sim)
    assert relaxation.imbalance(sim) < 5e-3
    tip = float(sim.u[sim.body.sets["tip"], 2].mean())
    assert -tip > 1e-3  # large: about 0.1 rad at the tip
    adr = _bar(shape, make_law("pmb", youngs_modulus=70e9), load)
    info = relaxation.adr(adr, 100000, 2e-3, balance=5e-3)
    assert info["converged"]
    assert tip == pytest.approx(float(adr.u[adr.body.sets["tip"], 2].mean()), rel=0.01)
    assert int(np.bitwise_count(sim.bits).sum()) == int(sim.initial_bond_count.sum())  # nothing broke


def test_trace_passes_the_peak_of_a_bar_in_tension():
    """A brittle bar pulled by a force: load control to the first break, then displacement control past the
    peak; the peak is the bond strength times the section (within 15 % on 3 x 3 particles) and the curve
    falls after it."""
    s0 = 1e-3
    shape = (12, 3, 3)
    sim = _bar(shape, make_law("pmb", youngs_modulus=70e9, critical_stretch=s0), (100.0, 0.0, 0.0))
    assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
    path = newton.trace(sim, tolerance=2e-3, balance=5e-3)
    assert path.failed and path.peak_factor is not None
    strength = s0 * 70e9 * 9 * DX**2
    assert path.peak_factor * 100.0 == pytest.approx(strength, rel=0.15)
    factors = [p["factor"] for p in path.curve]
    assert factors[0] == 1.0 and max(factors) == factors[path.peak_index]
    assert factors[-1] < factors[path.peak_index]  # traced past the peak in the same pass
    w = [p["w_m"] for p in path.curve]
    assert all(b >= a - 1e-12 for a, b in zip(w[1:], w[2:], strict=False))  # displacement never goes back
    # Its cost by phase (Trace.phases, bench_failure --phases): every evaluation charged once; "redone" a part.
    spent = {k: v for k, v in path.phases.items() if k != "redone"}
    assert sum(spent.values()) == path.evaluations and min(spent.values()) >= 0
    assert spent["first break"] > 0 and spent["break checks"] > 0 and spent["increment solves"] > 0
    assert 0 <= path.phases.get("redone", 0) <= path.evaluations
    assert newton.newton_for(sim).last_trace is path


def test_krylov_from_a_warm_start_needs_fewer_iterations_for_the_same_answer():
    """The displacement-control solve K a = q starts from the last increment's a (Newton._unit): from its own
    answer it takes at most one iteration; from the answer about a nearby state, fewer than from zero, to the
    same tolerance (float64 products: float32's rounding would blur the count)."""
    law = make_law("pmb", youngs_modulus=70e9)
    sim = _bar((16, 3, 3), law, (0.0, 0.0, -100.0))
    sim.set_precision("float64")
    solver = newton.newton_for(sim)
    solver.pattern = pat = newton.Pattern(sim)
    solver.residual()
    solver.prepare()
    cold, cold_its = solver.krylov(pat.q, 1e-2)
    again, its = solver.krylov(pat.q, 1e-2, cold)
    assert its <= 1  # the finite-difference products are not exactly linear: at most one step to re-meet it
    assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]  # a bent state: another tangent
    solver.residual()
    solver.prepare()
    fresh, fresh_its = solver.krylov(pat.q, 1e-2)
    warm, warm_its = solver.krylov(pat.q, 1e-2, cold)
    assert 0 < warm_its < fresh_its
    assert np.linalg.norm(warm - fresh) <= 1e-2 * np.linalg.norm(fresh)


def test_a_running_cracks_loose_rounds_leave_the_peak_as_it_was(monkeypatch):
    """Settle rounds past CASCADE x the peak are solved loosely (the crack runs on; no point of the curve keeps
    them): the failure load and the verdict are those of the trace with every round solved fully."""
    s0 = 1e-3

    def traced():
        sim = _bar((12, 3, 3), make_law("pmb", youngs_modulus=70e9, critical_stretch=s0), (100.0, 0.0, 0.0))
        assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
        return newton.trace(sim, tolerance=2e-3, balance=5e-3)

    loose = traced()
    monkeypatch.setattr(newton, "CASCADE", 0.0)  # never loose
    full = traced()
    assert loose.failed and full.failed
    assert loose.peak_factor == pytest.approx(full.peak_factor, rel=2e-3)
    assert loose.evaluations <= full.evaluations


def test_inexact_settle_rounds_find_the_same_peak_for_fewer_evaluations(monkeypatch):
    """Settle rounds re-equilibrate by one inexact Newton step each (SETTLE_ETA) until no bond breaks, then solve
    fully, and a redone increment's settle stops once its load is below the previous increment's: a cracking
    cantilever's failure load stays that of fully solved rounds (within the path's own spread: bonds break on
    nearly balanced states, in a slightly different order; measured 1.1 %) for fewer evaluations (measured
    0.52 x), and every point up to the peak is a converged state."""
    s0 = 2e-3

    def traced():
        sim = _bar((12, 3, 3), make_law("pmb", youngs_modulus=70e9, critical_stretch=s0), (0.0, 0.0, -8.0))
        assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
        return newton.trace(sim, tolerance=2e-3, balance=5e-3)

    inexact = traced()
    monkeypatch.setattr(newton, "INEXACT_SETTLE", False)
    monkeypatch.setattr(newton, "DOOMED_ABORT", False)
    full = traced()
    assert inexact.failed and full.failed and inexact.converged and full.converged
    assert inexact.peak_factor == pytest.approx(full.peak_factor, rel=0.03)
    assert inexact.evaluations < 0.8 * full.evaluations
    assert all(p["converged"] for p in inexact.curve[: inexact.peak_index + 1])


def test_a_tolerance_it_cannot_reach_leaves_the_best_state_not_the_unloaded_one():
    """Newton and its load-step fallback both fail at a tolerance below the floor: the state kept is the nearest
    to equilibrium at the full load (the bent cantilever), not the fallback's last load step (here u = 0)."""
    law = make_law("pmb", youngs_modulus=70e9)
    shape, load = (20, 3, 3), (0.0, 0.0, -250.0)
    sim = _bar(shape, law, load)
    res = newton.solve(sim, tolerance=1e-9, balance=1e-9)
    assert not res["converged"]
    reference = _bar(shape, law, load)
    assert newton.solve(reference, tolerance=2e-3, balance=5e-3)["converged"]
    tip = float(sim.u[sim.body.sets["tip"], 2].mean())
    assert tip == pytest.approx(float(reference.u[reference.body.sets["tip"], 2].mean()), rel=0.01)


def test_float32_twin_of_a_float64_law_keeps_its_own_bond_state():
    """Law.twin: a float64 LPS law's float32 copy computes the same forces to float32's rounding, with bonds
    broken after the copy was made too (its per-particle state follows the bits it is handed), and leaves the
    float64 law as it was."""
    law = make_law("lps", youngs_modulus=70e9, poisson_ratio=0.33)
    sim = _bar((10, 4, 3), law, (0.0, 0.0, -50.0))
    sim.set_precision("float64")
    rng = np.random.default_rng(1)
    sim.u[:] = rng.normal(0.0, 1e-3 * DX, sim.u.shape)
    twin = sim.law.twin("float32")
    assert sim.law.dtype == np.float64 and twin.dtype == np.float32
    tangent = newton.Tangent(sim, law=twin)

    def forces(bits):
        sim.bits[:] = bits
        relaxation.out_of_balance(sim)
        sim.bits[:] = bits
        tangent.about(sim)
        return sim.internal.copy(), tangent.f0.copy()

    intact = sim.bits.copy()
    f64, f32 = forces(intact)
    top = np.abs(f64).max()
    assert np.abs(f32 - f64).max() <= 1e-5 * top
    cut = intact.copy()
    cut[:, : sim.body.count // 3] = 0  # a third of the particles lose every bond
    f64c, f32c = forces(cut)
    assert np.abs(f64c - f64).max() > 1e-2 * top  # the cut changed the forces ...
    assert np.abs(f32c - f64c).max() <= 1e-5 * top  # ... for both laws alike
    f64b, f32b = forces(intact)  # and back
    assert np.abs(f64b - f64).max() <= 1e-12 * top and np.abs(f32b - f64).max() <= 1e-5 * top


def test_mixed_precision_preconditioner_keeps_the_peak(monkeypatch):
    """MIXED_PRECISION: a float64 failure test's preconditioner products by the law's float32 twin; the residuals,
    CG's own products and every test stay float64: the same peak (within the path's own spread), every point up
    to it converged, and most products in float32."""
    s0 = 2e-3

    def traced():
        law = make_law("lps", youngs_modulus=70e9, poisson_ratio=0.33, critical_stretch=s0)
        sim = _bar((12, 3, 3), law, (0.0, 0.0, -8.0))
        sim.set_precision("float64")
        assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
        path = newton.trace(sim, tolerance=2e-3, balance=5e-3)
        return path, newton.newton_for(sim)

    mixed, solver = traced()
    monkeypatch.setattr(newton, "MIXED_PRECISION", False)
    plain, plain_solver = traced()
    assert plain_solver.evaluations32 == 0 and solver.evaluations32 > 0.5 * solver.evaluations
    assert mixed.failed and mixed.converged and plain.failed
    assert mixed.peak_factor == pytest.approx(plain.peak_factor, rel=0.03)
    assert all(p["converged"] for p in mixed.curve[: mixed.peak_index + 1])


def test_an_evaluation_at_the_state_of_the_last_one_is_not_repeated():
    """Newton keeps its last evaluation with its state (u, bond bits, loads): the break check after a converged
    solve (no bond over its limit there) and a residual at that state cost no evaluation and give the forces a
    fresh evaluation gives; a change of u or of the loads evaluates again."""
    sim = _bar((12, 3, 3), make_law("pmb", youngs_modulus=70e9, critical_stretch=1e-2), (0.0, 0.0, -50.0))
    assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
    solver = newton.newton_for(sim)
    before = solver.evaluations
    r = solver.residual()
    assert solver.break_bonds() == 0 and solver.evaluations == before
    np.testing.assert_array_equal(r, relaxation.out_of_balance(sim))
    sim.u[5, 2] += 1e-9
    solver.residual()
    assert solver.evaluations == before + 1
    solver.pattern.scale(1.01)
    solver.residual()
    assert solver.evaluations == before + 2


def test_a_crack_running_faster_each_round_is_told_from_one_that_slows():
    """newton.running on the bonds broken per settle round of the 38,400-particle cantilever's trace: the
    increments redone after their load fell (the crack ran ever faster) are caught rounds before that; the
    accepted ones, whose counts wander and die out, never are."""
    doomed = [1030, 149, 102, 53, 79, 49, 29, 20, 13, 21, 18, 32, 23, 29, 43, 45, 51, 71, 84, 95]
    assert newton.running(doomed, 3) and not newton.running(doomed[:15], 3)
    assert newton.running([423, 219, 139, 124, 105, 110, 103, 99, 129, 128, 144, 181, 248], 3)
    for accepted in ([974, 23, 8, 4, 7, 8, 7, 4, 7, 5, 8, 6, 7, 9, 4], [147, 116, 64, 49, 32, 35, 22, 11, 6, 3, 2],
                     [42, 28, 10, 6, 8, 8, 3, 8, 4], [54, 28, 13, 11, 8, 3, 2]):  # fmt: skip
        assert not any(newton.running(accepted[:k], 3) for k in range(1, len(accepted) + 1))
    assert not newton.running(doomed, 0)  # off


_DEFAULT_STEPS = (newton.DW_FIRST, newton.DW_MIN, newton.DW_MAX)


def _cracking_cantilever_peak(monkeypatch, scale: float) -> tuple[float, int]:
    """The small PMB cantilever's traced peak factor and law evaluations with the increments scaled by ``scale``."""
    for name, value in zip(("DW_FIRST", "DW_MIN", "DW_MAX"), _DEFAULT_STEPS, strict=True):
        monkeypatch.setattr(newton, name, scale * value)
    sim = _bar((12, 3, 3), make_law("pmb", youngs_modulus=70e9, critical_stretch=2e-3), (0.0, 0.0, -8.0))
    assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
    path = newton.trace(sim, tolerance=2e-3, balance=5e-3)
    assert path.failed and path.converged
    return path.peak_factor, path.evaluations


def test_the_failure_load_is_step_converged_at_the_default_increments(monkeypatch):
    """The failure load follows the order bonds break in, so it moves with the displacement increments: at the
    default ones (DW_FIRST, DW_MIN, DW_MAX) a cracking cantilever's peak is within 1 % of the one with half of
    them (the step-converged load; measured 81.53 / 81.54 / 81.50 N at 1, 1/2, 1/4 of them, 81.31 N at 8x)."""
    converged = _cracking_cantilever_peak(monkeypatch, 0.5)[0]
    assert _cracking_cantilever_peak(monkeypatch, 1.0)[0] == pytest.approx(converged, rel=0.01)


def test_an_increment_that_breaks_nothing_lands_on_the_top_of_the_elastic_stretch(monkeypatch):
    """Where nothing broke, the next increment lands just short of the break the tangent predicts (LAND_SHORT):
    the top of the elastic stretch is sampled. The largest stretch's secant (LAND_ON_TOP off) stepped past it on
    this cantilever, its cracks in, and broke six bonds at a load 7 % below the top (measured peaks 79.07 against
    81.53 N, 1,554 against 988 evaluations)."""
    landed, landed_evaluations = _cracking_cantilever_peak(monkeypatch, 1.0)
    monkeypatch.setattr(newton, "LAND_ON_TOP", False)
    secant, secant_evaluations = _cracking_cantilever_peak(monkeypatch, 1.0)
    assert landed > 1.02 * secant
    assert landed_evaluations < secant_evaluations


def test_next_break_is_the_first_crossing_of_the_linearised_bond_stretches():
    """``next_break``: the smallest load-factor change at which an intact bond's stretch, linearised along the
    displacement per unit factor, reaches s0 (each bond's stretch and rate from its two ends, numpy here)."""
    from physics.bonds import bond_geometry

    law = make_law("lps", youngs_modulus=70e9, poisson_ratio=0.33, critical_stretch=2e-3)
    sim = _bar((10, 4, 3), law, (0.0, 0.0, -8.0))
    sim.set_precision("float64")
    assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
    sim.bits[0, :40] &= np.uint32(0xFFFFFFF0)  # some bonds broken: they are skipped
    unit = 3.0 * sim.u + 1e-7 * np.random.default_rng(0).standard_normal(sim.u.shape)
    crossings = []
    for rows, _xi, y, r, s, length, j, intact in bond_geometry(sim):
        rate = np.einsum("ijk,ijk->ij", y, unit[j] - unit[rows][:, None, :]) / (r * length)
        ok = intact & (rate > 0)
        crossings.append((2e-3 - s[ok]) / rate[ok])
    expected = np.concatenate(crossings).min()
    assert newton.next_break(sim, unit, 2e-3) == pytest.approx(expected, rel=1e-9)
    assert newton.next_break(sim, np.zeros_like(sim.u), 2e-3) == np.inf


def _strained_lps(dim: int) -> Simulation:
    """A float64 LPS bar (3D, or a 2D plate) with random displacements that take some bonds past their limit."""
    law = make_law("lps", youngs_modulus=70e9, poisson_ratio=0.33, critical_stretch=1e-3)
    shape = (12, 4, 3) if dim == 3 else (12, 6)
    body = Body.from_occupancy(np.ones(shape, dtype=bool), DX, 2700.0, thickness=None if dim == 3 else DX)
    body.point_set("clamp", lambda x: x[:, 0] < 1.5 * DX)
    body.point_set("tip", lambda x: x[:, 0] > (shape[0] - 1.5) * DX)
    force = (0.0, 0.0, -50.0) if dim == 3 else (0.0, -50.0, 0.0)
    sim = Simulation(body, law, [Fixed("clamp"), Force("tip", value=force)])
    sim.set_precision("float64")
    rng = np.random.default_rng(3)
    sim.u[:, :dim] = rng.normal(0.0, 1e-3 * DX, (body.count, dim))
    return sim


@pytest.mark.parametrize("dim", [3, 2])
def test_the_break_only_pass_breaks_the_bonds_an_evaluation_breaks(dim):
    """LPS.break_over_limit (the law's limit test without the forces, physics/laws/break_kernels.py) clears exactly
    the bits a whole evaluation clears at the same state, and counts them per particle alike."""
    sim = _strained_lps(dim)
    intact = sim.bits.copy()
    relaxation.out_of_balance(sim)
    evaluated, counts = sim.bits.copy(), sim.newly_broken.copy()
    assert not np.array_equal(evaluated, intact) and 0 < counts.sum() < 0.5 * np.bitwise_count(intact).sum()
    sim.bits[:] = intact
    sim.newly_broken[:] = -1
    ends = sim.law.break_over_limit(sim)
    np.testing.assert_array_equal(sim.bits, evaluated)
    np.testing.assert_array_equal(sim.newly_broken, counts)
    assert ends == counts.sum()


def test_a_break_check_costs_no_evaluation_where_one_was_made_at_its_state():
    """Newton.break_bonds: after a residual at a state with bonds over their limit it takes the bits that
    evaluation broke (no evaluation); elsewhere (BREAK_PASS) the law's break-only pass, not counted as an
    evaluation; both break what an evaluation with breaking breaks."""
    sim = _strained_lps(3)
    solver = newton.newton_for(sim)
    intact = sim.bits.copy()
    relaxation.out_of_balance(sim)
    evaluated = sim.bits.copy()
    broken = (int(np.bitwise_count(intact).sum()) - int(np.bitwise_count(evaluated).sum())) // 2
    sim.bits[:] = intact
    solver.residual()
    before, passes = solver.evaluations, solver.break_passes
    assert solver.break_bonds() == broken and solver.evaluations == before and solver.break_passes == passes
    np.testing.assert_array_equal(sim.bits, evaluated)
    sim.bits[:] = intact
    sim.u[0, 0] += 1e-12  # another state: no evaluation of it to take
    assert solver.break_bonds() == broken and solver.evaluations == before and solver.break_passes == passes + 1
    np.testing.assert_array_equal(sim.bits, evaluated)


def test_settle_rounds_from_the_float32_residual_keep_the_peak(monkeypatch):
    """ROUND_FLOAT32: a float64 failure test's settle round takes its step's right-hand side from the float32
    twin's linearisation instead of a float64 residual of its own (the break checks and every convergence test
    stay float64): the same peak within the path's own spread, every point up to it converged, fewer float64
    evaluations."""
    s0 = 2e-3

    def traced():
        law = make_law("lps", youngs_modulus=70e9, poisson_ratio=0.33, critical_stretch=s0)
        sim = _bar((12, 3, 3), law, (0.0, 0.0, -8.0))
        sim.set_precision("float64")
        assert newton.solve(sim, tolerance=2e-3, balance=5e-3)["converged"]
        solver = newton.newton_for(sim)
        before64 = solver.evaluations - solver.evaluations32
        path = newton.trace(sim, tolerance=2e-3, balance=5e-3)
        return path, solver.evaluations - solver.evaluations32 - before64

    fast, fast64 = traced()
    monkeypatch.setattr(newton, "ROUND_FLOAT32", False)
    plain, plain64 = traced()
    assert fast.failed and fast.converged and plain.failed
    assert fast.peak_factor == pytest.approx(plain.peak_factor, rel=0.03)
    assert all(p["converged"] for p in fast.curve[: fast.peak_index + 1])
    assert fast64 < plain64
