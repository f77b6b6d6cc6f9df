"""The live page under the Newton solver: its iterations can be seconds apart on a big body, yet the page updates
at least once a second (Newton's tick, physics.newton.Newton.tick) and a stop inside an iteration ends the solve
there. The law's evaluations are slowed here so that a tiny bar behaves like a big body."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from fab.live.server import LiveServer
from fab.live.simulation import SimulationLive
from fab.stress import run_test
from physics import newton
from tests.test_live_browser import _bar_job

SLOW = 0.04  # seconds added to every evaluation of the law (residuals and tangent products)


@pytest.fixture
def slow_law(monkeypatch) -> list[float]:
    """Slows the law's evaluations; yields the wall seconds each one took (a tick can only come between two)."""
    apply, residual = newton.Tangent.apply, newton.Newton.residual
    seconds: list[float] = []

    def timed(evaluate, *args):
        start = time.perf_counter()
        time.sleep(SLOW)
        out = evaluate(*args)
        seconds.append(time.perf_counter() - start)
        return out

    monkeypatch.setattr(newton.Tangent, "apply", lambda self, v: timed(apply, self, v))
    monkeypatch.setattr(newton.Newton, "residual", lambda self: timed(residual, self))
    return seconds


def _watched(view: SimulationLive) -> tuple[list[float], list[float]]:
    """Record when snapshots are taken and when the solver's callback runs (one call per Newton iteration)."""
    snapshots: list[float] = []
    callbacks: list[float] = []
    snapshot, observe = view._snapshot, view.observe

    def timed_snapshot(sim):
        snapshots.append(time.perf_counter())
        snapshot(sim)

    def timed_observe(*args):
        callbacks.append(time.perf_counter())
        return observe(*args)

    view._snapshot, view.observe = timed_snapshot, timed_observe
    return snapshots, callbacks


def test_snapshots_come_every_second_between_slow_newton_iterations_and_stop_ends_one(slow_law) -> None:
    grid, job = _bar_job()
    with LiveServer("bar", quiet=True) as server:
        view = SimulationLive(server, hold=False, quiet=True)
        snapshots, callbacks = _watched(view)
        pressed: list[float] = []

        def press_stop() -> None:
            while len(callbacks) < 3:  # in the third Newton iteration, well inside its linear solve
                time.sleep(0.01)
            time.sleep(0.7)
            pressed.append(time.perf_counter())
            view._stop()

        person = threading.Thread(target=press_stop, daemon=True)
        person.start()
        report = run_test(grid, job, live=view)
        ended = time.perf_counter()
        person.join(5)
    # Newton's own callback comes seconds apart: without the tick the page would wait as long.
    assert np.diff(callbacks[:3]).max() > 2.0
    during = [t for t in snapshots if callbacks[0] <= t <= callbacks[2]]
    gaps = np.diff(during)
    # A snapshot is due each second and taken at the next evaluation's end: on a loaded machine an evaluation (and
    # the snapshot's own rendering) can take longer than the slowed 0.04 s, so the allowance is the slowest one.
    allowance = 1.0 + max(slow_law) + 0.1
    assert len(during) > 3 and gaps.max() < allowance, (gaps.round(2), allowance)
    # Stop inside an iteration ends the solve there, not at the end of the iteration seconds later.
    assert not report.converged and any("stopped from the live view" in n for n in report.notes)
    assert ended - pressed[0] < 1.0
    assert len(callbacks) == 4  # the callback after the stop reported it


def test_a_failure_tests_load_path_is_watched_and_stopped() -> None:
    """The failure test's load path (physics.newton.trace) reports to the page too: it sees the cracks grow and
    its Stop ends the test with the state reached."""
    grid, job = _bar_job(1e-3)
    job = dataclasses.replace(job, test=dataclasses.replace(job.test, kind="failure"))
    with LiveServer("bar", quiet=True) as server:
        view = SimulationLive(server, hold=False, quiet=True)
        observe = view.observe
        labels: list[str] = []

        def stop_on_the_path(sim, step, residual, label):
            labels.append(label)
            if label.startswith("failure") and sum(x.startswith("failure") for x in labels) == 3:
                view._stop()
            return observe(sim, step, residual, label)

        view.observe = stop_on_the_path
        report = run_test(grid, job, live=view)
    assert not report.converged and report.safety_factor is None
    assert any(n.startswith("stopped from the live view (failure: load x") for n in report.notes), report.notes


def test_a_failure_tests_curve_on_the_page_is_its_load_path() -> None:
    from fab.voxels import VoxelGrid

    _grid, job = _bar_job(1e-3)
    grid = VoxelGrid(np.ones((10, 3, 3), dtype=bool), 1.0, (0.5, 0.5, 0.5))  # small: a whole failure test
    job = dataclasses.replace(job, test=dataclasses.replace(job.test, kind="failure"))
    with LiveServer("bar", quiet=True) as server:
        view = SimulationLive(server, hold=False, quiet=True)
        report = run_test(grid, job, live=view)
    assert report.safety_factor is not None
    w, load = view.curve
    assert w[0] == 0.0 and load[0] == 0.0
    assert w[1:] == pytest.approx([p["displacement_mm"] for p in report.curve])
    assert load[1:] == pytest.approx([p["load_n"] for p in report.curve])
    assert max(load) == pytest.approx(report.failure_load_n)


def test_the_page_updates_while_newtons_preconditioner_is_built_and_a_stop_there_ends_the_solve(monkeypatch) -> None:
    """The multigrid build (levels, Lanczos estimates, the coarsest level's probing: 1-2 s at 62,500 particles)
    looks in through the tick given before it (physics.multigrid.solver_for's tick): snapshots stay under a
    second apart, and a stop pressed there ends the solve at its first callback."""
    from physics import multigrid

    grid, job = _bar_job()
    run_test(grid, job)  # numba's cached kernels loaded (the first evaluation in a process takes ~0.5 s)
    grid = type(grid)(np.ones((20, 8, 8), dtype=bool), 1.0, (0.5, 0.5, 0.5))  # 1,280 particles: two levels
    apply = multigrid.Level.apply

    def slow_fine_apply(self, v):
        if self.count == grid.count:
            time.sleep(0.25)  # the finest level's Lanczos products: about 2.5 s of build
        return apply(self, v)

    monkeypatch.setattr(multigrid.Level, "apply", slow_fine_apply)
    with LiveServer("bar", quiet=True) as server:
        view = SimulationLive(server, interval=0.2, hold=False, quiet=True)
        snapshots, callbacks = _watched(view)
        statuses: list[str] = []
        snapshot = view._snapshot

        def noting_snapshot(sim):
            snapshot(sim)
            statuses.append(view.status.content)

        view._snapshot = noting_snapshot

        def press_stop() -> None:
            while len(snapshots) < 3:  # inside the build
                time.sleep(0.01)
            view._stop()

        person = threading.Thread(target=press_stop, daemon=True)
        person.start()
        report = run_test(grid, job, live=view)
        person.join(5)
    built = [t for t in snapshots if not callbacks or t < callbacks[0]]
    assert built[-1] - built[0] > 1.5 and np.diff(built).max() < 1.1, np.diff(built).round(2)
    assert any("building the solver's preconditioner" in s for s in statuses)
    assert not report.converged and any("stopped from the live view" in n for n in report.notes)
    assert len(callbacks) == 1  # the solve's first callback saw the stop


@pytest.mark.parametrize("model", ["pmb", "lps"])
def test_an_observed_evaluation_of_a_big_body_looks_in_between_its_kernel_calls_and_gives_the_same_forces(
    monkeypatch, model
) -> None:
    """A body over physics.laws.base.GROUP_PARTICLES is evaluated in groups of particles when Newton's tick is
    attached (the page updates inside an evaluation of over 0.5 s); the solve is the same to the bit."""
    from fab.stress import build_model, make_conditions, make_law
    from physics import Simulation
    from physics.laws import base

    grid, job = _bar_job()
    grid = type(grid)(np.ones((20, 8, 8), dtype=bool), 1.0, (0.5, 0.5, 0.5))  # 1,280 particles, 5 chunks
    job = dataclasses.replace(job, physics=dataclasses.replace(job.physics, model=model))
    monkeypatch.setattr(base, "GROUP_PARTICLES", 300)
    monkeypatch.setattr(newton, "TICK_SECONDS", 0.0)

    def solved(tick) -> np.ndarray:
        model_ = build_model(grid, job, job.material)
        law, _ = make_law(job.physics, job.material, model_.body.lattice)
        sim = Simulation(model_.body, law, make_conditions(model_, job, job.material).conditions, damping=0.0)
        newton.newton_for(sim, tick=tick)
        assert len(base.chunk_groups(sim.body.lattice, sim)) == (1 if tick is None else 4)
        assert newton.static(sim, tolerance=1e-4)["converged"]
        return sim.u

    looks: list[dict] = []
    observed = solved(lambda where: looks.append(where) or False)
    assert sum(w["within"] for w in looks) > 50 and any(w["building"] for w in looks)
    assert np.array_equal(observed, solved(None))


def test_the_tick_survives_a_rebuilt_solver() -> None:
    """Simulation.set_precision drops the Newton solver; the one rebuilt for the simulation keeps its observer."""
    from fab.stress import build_model, make_conditions, make_law
    from physics import Simulation

    grid, job = _bar_job()
    model = build_model(grid, job, job.material)
    law, _ = make_law(job.physics, job.material, model.body.lattice)
    sim = Simulation(model.body, law, make_conditions(model, job, job.material).conditions, damping=0.0)
    tick = lambda where: False  # noqa: E731
    assert newton.newton_for(sim, tick=tick).tick is tick
    sim.set_precision("float64")
    rebuilt = newton.newton_for(sim)
    assert rebuilt.tick is tick and sim.between is not None and rebuilt.tangent.between is sim.between
